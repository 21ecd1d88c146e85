// SPDX-License-Identifier: GPL-2.0
/*
 * The generic-netlink family "pvenc": the agent registers and unregisters volumes,
 * anyone may dump them (the same values are world-readable in sysfs).
 */
#include <linux/types.h>
#include <linux/kdev_t.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "pvenc.h"

static const struct nla_policy pvenc_policy[PVENC_A_MAX + 1] = {
	[PVENC_A_NAME] = { .type = NLA_NUL_STRING, .len = PVENC_NAME_MAX },
	[PVENC_A_DEV] = { .type = NLA_U32 },
	[PVENC_A_POOL] = { .type = NLA_NUL_STRING, .len = PVENC_TEXT_MAX },
	[PVENC_A_NAMESPACE] = { .type = NLA_NUL_STRING, .len = PVENC_TEXT_MAX },
	[PVENC_A_IMAGE] = { .type = NLA_NUL_STRING, .len = PVENC_TEXT_MAX },
	[PVENC_A_IMAGE_ID] = { .type = NLA_NUL_STRING, .len = PVENC_TEXT_MAX },
	[PVENC_A_CIPHER] = { .type = NLA_NUL_STRING, .len = PVENC_TEXT_MAX },
	[PVENC_A_KEY_BITS] = { .type = NLA_U32 },
	[PVENC_A_SECTOR_SIZE] = { .type = NLA_U32 },
	[PVENC_A_KMS] = { .type = NLA_NUL_STRING, .len = PVENC_TEXT_MAX },
	[PVENC_A_KEY_VERSION] = { .type = NLA_U32 },
	[PVENC_A_OPENED_AT] = { .type = NLA_U64 },
	[PVENC_A_STATS] = { .type = NLA_REJECT },
	[PVENC_A_DEK_VERSION] = { .type = NLA_U32 },
	[PVENC_A_ROTATED_AT] = { .type = NLA_U64 },
};

static struct genl_family pvenc_family;

static const char *str_attr(struct genl_info *info, int type)
{
	return info->attrs[type] ? nla_data(info->attrs[type]) : "";
}

static u32 u32_attr(struct genl_info *info, int type)
{
	return info->attrs[type] ? nla_get_u32(info->attrs[type]) : 0;
}

static int pvenc_nl_register(struct sk_buff *skb, struct genl_info *info)
{
	struct pvenc_identity id = {
		.name = str_attr(info, PVENC_A_NAME),
		.pool = str_attr(info, PVENC_A_POOL),
		.namespace = str_attr(info, PVENC_A_NAMESPACE),
		.image = str_attr(info, PVENC_A_IMAGE),
		.image_id = str_attr(info, PVENC_A_IMAGE_ID),
		.cipher = str_attr(info, PVENC_A_CIPHER),
		.kms = str_attr(info, PVENC_A_KMS),
		.key_bits = u32_attr(info, PVENC_A_KEY_BITS),
		.sector_size = u32_attr(info, PVENC_A_SECTOR_SIZE),
		.key_version = u32_attr(info, PVENC_A_KEY_VERSION),
		.dek_version = u32_attr(info, PVENC_A_DEK_VERSION),
	};

	/* CAP_SYS_ADMIN, which opening dm-crypt needs anyway, rather than genetlink's
	 * CAP_NET_ADMIN: pvenc-agent's unit then needs no network privilege. */
	if (!netlink_capable(skb, CAP_SYS_ADMIN))
		return -EPERM;
	if (!info->attrs[PVENC_A_NAME] || !info->attrs[PVENC_A_DEV]) {
		GENL_SET_ERR_MSG(info, "NAME and DEV are required");
		return -EINVAL;
	}
	if (!pvenc_name_valid(id.name)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[PVENC_A_NAME],
				    "invalid volume name");
		return -EINVAL;
	}
	if (!pvenc_text_valid(id.pool) || !pvenc_text_valid(id.namespace) ||
	    !pvenc_text_valid(id.image) || !pvenc_text_valid(id.image_id) ||
	    !pvenc_text_valid(id.cipher) || !pvenc_text_valid(id.kms)) {
		GENL_SET_ERR_MSG(info, "identity strings must be printable");
		return -EINVAL;
	}
	id.dev = new_decode_dev(nla_get_u32(info->attrs[PVENC_A_DEV]));
	if (info->attrs[PVENC_A_OPENED_AT])
		id.opened_at = nla_get_u64(info->attrs[PVENC_A_OPENED_AT]);
	if (info->attrs[PVENC_A_ROTATED_AT])
		id.rotated_at = nla_get_u64(info->attrs[PVENC_A_ROTATED_AT]);
	return pvenc_volume_register(&id);
}

static int pvenc_nl_unregister(struct sk_buff *skb, struct genl_info *info)
{
	if (!netlink_capable(skb, CAP_SYS_ADMIN))
		return -EPERM;
	if (!info->attrs[PVENC_A_NAME]) {
		GENL_SET_ERR_MSG(info, "NAME is required");
		return -EINVAL;
	}
	return pvenc_volume_unregister(nla_data(info->attrs[PVENC_A_NAME]));
}

struct dump_state {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	struct pvenc_volume *copy;
	unsigned long done;
};

static int put_stats(struct sk_buff *skb, struct pvenc_volume *v)
{
	struct pvenc_counters c;
	struct nlattr *nest;
	int i;

	if (pvenc_stats_read(v, &c))
		return 0; /* the device is gone: no STATS */
	nest = nla_nest_start(skb, PVENC_A_STATS);
	if (!nest)
		return -EMSGSIZE;
	for (i = PVENC_S_COUNTERS_BEGIN; i < PVENC_S_COUNTERS_END; i++)
		if (nla_put_u64_64bit(skb, i, c.v[i], PVENC_S_PAD))
			return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static int dump_one(struct pvenc_volume *v, void *arg)
{
	struct dump_state *st = arg;
	struct pvenc_volume *x = st->copy;
	void *hdr;

	pvenc_volume_copy(x, v);
	hdr = genlmsg_put(st->skb, NETLINK_CB(st->cb->skb).portid, st->cb->nlh->nlmsg_seq,
			  &pvenc_family, NLM_F_MULTI, PVENC_CMD_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_string(st->skb, PVENC_A_NAME, x->name) ||
	    nla_put_u32(st->skb, PVENC_A_DEV, new_encode_dev(x->dev)) ||
	    nla_put_string(st->skb, PVENC_A_POOL, x->pool) ||
	    nla_put_string(st->skb, PVENC_A_NAMESPACE, x->namespace) ||
	    nla_put_string(st->skb, PVENC_A_IMAGE, x->image) ||
	    nla_put_string(st->skb, PVENC_A_IMAGE_ID, x->image_id) ||
	    nla_put_string(st->skb, PVENC_A_CIPHER, x->cipher) ||
	    nla_put_u32(st->skb, PVENC_A_KEY_BITS, x->key_bits) ||
	    nla_put_u32(st->skb, PVENC_A_SECTOR_SIZE, x->sector_size) ||
	    nla_put_string(st->skb, PVENC_A_KMS, x->kms) ||
	    nla_put_u32(st->skb, PVENC_A_KEY_VERSION, x->key_version) ||
	    nla_put_u64_64bit(st->skb, PVENC_A_OPENED_AT, x->opened_at, PVENC_A_PAD) ||
	    nla_put_u32(st->skb, PVENC_A_DEK_VERSION, x->dek_version) ||
	    nla_put_u64_64bit(st->skb, PVENC_A_ROTATED_AT, x->rotated_at, PVENC_A_PAD) ||
	    put_stats(st->skb, v)) {
		genlmsg_cancel(st->skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(st->skb, hdr);
	st->done++;
	return 0;
}

static int pvenc_nl_get(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct dump_state st = { .skb = skb, .cb = cb };
	int ret;

	st.copy = kmalloc(sizeof(*st.copy), GFP_KERNEL);
	if (!st.copy)
		return -ENOMEM;
	ret = pvenc_volume_for_each(cb->args[0], dump_one, &st);
	kfree(st.copy);
	cb->args[0] += st.done;
	/* A full skb ends this part; the dump goes on from args[0]. */
	if (ret == -EMSGSIZE && st.done)
		ret = 0;
	return ret ?: skb->len;
}

static const struct genl_small_ops pvenc_ops[] = {
	{
		.cmd = PVENC_CMD_REGISTER,
		.doit = pvenc_nl_register,
	},
	{
		.cmd = PVENC_CMD_UNREGISTER,
		.doit = pvenc_nl_unregister,
	},
	{
		.cmd = PVENC_CMD_GET,
		.dumpit = pvenc_nl_get,
	},
};

static struct genl_family pvenc_family __ro_after_init = {
	.name = PVENC_GENL_NAME,
	.version = PVENC_GENL_VERSION,
	.maxattr = PVENC_A_MAX,
	.policy = pvenc_policy,
	.module = THIS_MODULE,
	.small_ops = pvenc_ops,
	.n_small_ops = ARRAY_SIZE(pvenc_ops),
	.resv_start_op = PVENC_CMD_GET + 1,
};

int __init pvenc_genl_init(void)
{
	return genl_register_family(&pvenc_family);
}

void pvenc_genl_exit(void)
{
	genl_unregister_family(&pvenc_family);
}
