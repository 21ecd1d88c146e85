// SPDX-License-Identifier: MIT
/* pvenc.ko's generic-netlink family through libnl-genl (see kmodnl.h). */
#include <errno.h>
#include <linux/genetlink.h>
#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/genl/genl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/kmodnl.h"

static __thread char last_error[128];

const char *kmodnl_last_error(void)
{
	return last_error;
}

/* libnl turns the kernel's errno into its own codes: back to errno for our callers. */
static int nl_to_errno(int e)
{
	if (e >= 0) /* some calls return a count (bytes sent) on success */
		return 0;
	(void)snprintf(last_error, sizeof(last_error), "%s", nl_geterror(e));
	switch (-e) {
	case NLE_OBJ_NOTFOUND:
		return -ENOENT;
	case NLE_PERM:
		return -EPERM;
	case NLE_INVAL:
	case NLE_RANGE:
	case NLE_MSGTYPE_NOSUPPORT:
		return -EINVAL;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_OPNOTSUPP:
		return -EOPNOTSUPP;
	case NLE_NODEV:
		return -ENODEV;
	case NLE_AGAIN:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* A connected socket and the family id; -ENOENT when the module is not loaded. */
static int open_family(struct nl_sock **out, int *family)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	struct genl_family *fam = NULL;
	int r;

	if (!sk)
		return -ENOMEM;
	r = nl_to_errno(genl_connect(sk));
	if (r == 0)
		r = nl_to_errno(genl_ctrl_alloc_cache(sk, &cache));
	if (r == 0) {
		fam = genl_ctrl_search_by_name(cache, PVENC_GENL_NAME);
		if (!fam)
			r = -ENOENT;
		else if (genl_family_get_version(fam) < PVENC_GENL_VERSION)
			r = -EPROTO;
		else
			*family = (int)genl_family_get_id(fam);
	}
	if (fam)
		genl_family_put(fam);
	nl_cache_free(cache);
	if (r < 0) {
		nl_socket_free(sk);
		return r;
	}
	*out = sk;
	return 0;
}

static uint32_t encode_dev(unsigned major, unsigned minor)
{
	/* The kernel's new_encode_dev. */
	return (minor & 0xffU) | (major << 8) | ((minor & ~0xffU) << 12);
}

static void decode_dev(uint32_t d, unsigned *major, unsigned *minor)
{
	*major = (d & 0xfff00U) >> 8;
	*minor = (d & 0xffU) | ((d >> 12) & 0xfff00U);
}

/* A socket and a message for @cmd to the pvenc family; on error the caller still
 * frees both (either may be NULL). */
static int new_request(struct nl_sock **sk, struct nl_msg **msg, int flags, int cmd)
{
	int family = 0, r = open_family(sk, &family);

	if (r < 0)
		return r;
	*msg = nlmsg_alloc();
	if (!*msg || !genlmsg_put(*msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, (uint8_t)cmd,
				  PVENC_GENL_VERSION))
		return -ENOMEM;
	return 0;
}

static int request(int cmd, const struct kvol *v, const char *name)
{
	struct nl_sock *sk = NULL;
	struct nl_msg *msg = NULL;
	int r;

	r = new_request(&sk, &msg, 0, cmd);
	if (r < 0)
		goto out;
	if (v) {
		if (nla_put_string(msg, PVENC_A_NAME, v->name) < 0 ||
		    nla_put_u32(msg, PVENC_A_DEV, encode_dev(v->dev_major, v->dev_minor)) < 0 ||
		    nla_put_string(msg, PVENC_A_POOL, v->pool) < 0 ||
		    nla_put_string(msg, PVENC_A_NAMESPACE, v->namespace) < 0 ||
		    nla_put_string(msg, PVENC_A_IMAGE, v->image) < 0 ||
		    nla_put_string(msg, PVENC_A_IMAGE_ID, v->image_id) < 0 ||
		    nla_put_string(msg, PVENC_A_CIPHER, v->cipher) < 0 ||
		    nla_put_u32(msg, PVENC_A_KEY_BITS, v->key_bits) < 0 ||
		    nla_put_u32(msg, PVENC_A_SECTOR_SIZE, v->sector_size) < 0 ||
		    nla_put_string(msg, PVENC_A_KMS, v->kms) < 0 ||
		    nla_put_u32(msg, PVENC_A_KEY_VERSION, v->key_version) < 0 ||
		    nla_put_u64(msg, PVENC_A_OPENED_AT, v->opened_at) < 0 ||
		    nla_put_u32(msg, PVENC_A_DEK_VERSION, v->dek_version) < 0 ||
		    nla_put_u64(msg, PVENC_A_ROTATED_AT, v->rotated_at) < 0) {
			r = -EMSGSIZE;
			goto out;
		}
	} else if (nla_put_string(msg, PVENC_A_NAME, name) < 0) {
		r = -EMSGSIZE;
		goto out;
	}
	r = nl_to_errno(nl_send_auto(sk, msg));
	if (r == 0)
		r = nl_to_errno(nl_wait_for_ack(sk));
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return r;
}

int kmodnl_register(const struct kvol *v)
{
	return request(PVENC_CMD_REGISTER, v, NULL);
}

int kmodnl_unregister(const char *name)
{
	return request(PVENC_CMD_UNREGISTER, NULL, name);
}

/* ---- dump ---- */

struct dump {
	struct kvol *v;
	size_t n, cap;
	int err;
};

static void copy_str(char *dst, size_t len, struct nlattr *a)
{
	(void)snprintf(dst, len, "%s", a ? nla_get_string(a) : "");
}

static int on_volume(struct nl_msg *msg, void *arg)
{
	static struct nla_policy pol[PVENC_A_MAX + 1] = {
		[PVENC_A_NAME] = { .type = NLA_STRING },
		[PVENC_A_DEV] = { .type = NLA_U32 },
		[PVENC_A_POOL] = { .type = NLA_STRING },
		[PVENC_A_NAMESPACE] = { .type = NLA_STRING },
		[PVENC_A_IMAGE] = { .type = NLA_STRING },
		[PVENC_A_IMAGE_ID] = { .type = NLA_STRING },
		[PVENC_A_CIPHER] = { .type = NLA_STRING },
		[PVENC_A_KEY_BITS] = { .type = NLA_U32 },
		[PVENC_A_SECTOR_SIZE] = { .type = NLA_U32 },
		[PVENC_A_KMS] = { .type = NLA_STRING },
		[PVENC_A_KEY_VERSION] = { .type = NLA_U32 },
		[PVENC_A_OPENED_AT] = { .type = NLA_U64 },
		[PVENC_A_STATS] = { .type = NLA_NESTED },
		[PVENC_A_DEK_VERSION] = { .type = NLA_U32 },
		[PVENC_A_ROTATED_AT] = { .type = NLA_U64 },
	};
	struct nlattr *tb[PVENC_A_MAX + 1], *st[PVENC_S_MAX + 1];
	struct dump *d = arg;
	struct kvol *v;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, PVENC_A_MAX, pol) < 0 || !tb[PVENC_A_NAME] ||
	    !tb[PVENC_A_DEV]) {
		d->err = -EBADMSG;
		return NL_STOP;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct kvol *nv = realloc(d->v, cap * sizeof(*nv));

		if (!nv) {
			d->err = -ENOMEM;
			return NL_STOP;
		}
		d->v = nv;
		d->cap = cap;
	}
	v = &d->v[d->n++];
	memset(v, 0, sizeof(*v));
	copy_str(v->name, sizeof(v->name), tb[PVENC_A_NAME]);
	decode_dev(nla_get_u32(tb[PVENC_A_DEV]), &v->dev_major, &v->dev_minor);
	copy_str(v->pool, sizeof(v->pool), tb[PVENC_A_POOL]);
	copy_str(v->namespace, sizeof(v->namespace), tb[PVENC_A_NAMESPACE]);
	copy_str(v->image, sizeof(v->image), tb[PVENC_A_IMAGE]);
	copy_str(v->image_id, sizeof(v->image_id), tb[PVENC_A_IMAGE_ID]);
	copy_str(v->cipher, sizeof(v->cipher), tb[PVENC_A_CIPHER]);
	copy_str(v->kms, sizeof(v->kms), tb[PVENC_A_KMS]);
	v->key_bits = tb[PVENC_A_KEY_BITS] ? nla_get_u32(tb[PVENC_A_KEY_BITS]) : 0;
	v->sector_size = tb[PVENC_A_SECTOR_SIZE] ? nla_get_u32(tb[PVENC_A_SECTOR_SIZE]) : 0;
	v->key_version = tb[PVENC_A_KEY_VERSION] ? nla_get_u32(tb[PVENC_A_KEY_VERSION]) : 0;
	v->opened_at = tb[PVENC_A_OPENED_AT] ? nla_get_u64(tb[PVENC_A_OPENED_AT]) : 0;
	v->dek_version = tb[PVENC_A_DEK_VERSION] ? nla_get_u32(tb[PVENC_A_DEK_VERSION]) : 0;
	v->rotated_at = tb[PVENC_A_ROTATED_AT] ? nla_get_u64(tb[PVENC_A_ROTATED_AT]) : 0;
	if (tb[PVENC_A_STATS] && nla_parse_nested(st, PVENC_S_MAX, tb[PVENC_A_STATS], NULL) == 0) {
		v->has_stats = 1;
		for (int i = PVENC_S_COUNTERS_BEGIN; i < PVENC_S_COUNTERS_END; i++)
			if (st[i] && nla_len(st[i]) == (int)sizeof(uint64_t))
				v->stats[i] = nla_get_u64(st[i]);
	}
	return NL_OK;
}

int kmodnl_list(struct kvol **vols, size_t *n)
{
	struct dump d = { 0 };
	struct nl_sock *sk = NULL;
	struct nl_msg *msg = NULL;
	int r;

	*vols = NULL;
	*n = 0;
	r = new_request(&sk, &msg, NLM_F_DUMP, PVENC_CMD_GET);
	if (r < 0)
		goto out;
	r = nl_to_errno(nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_volume, &d));
	if (r == 0)
		r = nl_to_errno(nl_send_auto(sk, msg));
	if (r == 0)
		r = nl_to_errno(nl_recvmsgs_default(sk));
	if (r == 0)
		r = d.err;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	if (r < 0) {
		free(d.v);
		return r;
	}
	*vols = d.v;
	*n = d.n;
	return 0;
}

/* ---- the family appearing ---- */

struct kmodnl_watch {
	struct nl_sock *sk;
	int appeared;
};

static int on_ctrl(struct nl_msg *msg, void *arg)
{
	struct kmodnl_watch *w = arg;
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[CTRL_ATTR_MAX + 1];

	if (g->cmd != CTRL_CMD_NEWFAMILY ||
	    genlmsg_parse(nlmsg_hdr(msg), 0, tb, CTRL_ATTR_MAX, NULL) < 0 ||
	    !tb[CTRL_ATTR_FAMILY_NAME])
		return NL_OK;
	if (strcmp(nla_get_string(tb[CTRL_ATTR_FAMILY_NAME]), PVENC_GENL_NAME) == 0)
		w->appeared = 1;
	return NL_OK;
}

int kmodnl_watch_open(struct kmodnl_watch **out)
{
	struct kmodnl_watch *w = calloc(1, sizeof(*w));
	int grp, r;

	if (!w)
		return -ENOMEM;
	w->sk = nl_socket_alloc();
	if (!w->sk) {
		free(w);
		return -ENOMEM;
	}
	nl_socket_disable_seq_check(w->sk);
	r = nl_to_errno(genl_connect(w->sk));
	if (r == 0) {
		grp = genl_ctrl_resolve_grp(w->sk, "nlctrl", "notify");
		r = grp < 0 ? nl_to_errno(grp) : nl_to_errno(nl_socket_add_membership(w->sk, grp));
	}
	if (r == 0)
		r = nl_to_errno(nl_socket_set_nonblocking(w->sk));
	if (r == 0)
		r = nl_to_errno(nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM, on_ctrl, w));
	if (r < 0) {
		kmodnl_watch_close(w);
		return r;
	}
	*out = w;
	return 0;
}

int kmodnl_watch_fd(const struct kmodnl_watch *w)
{
	return nl_socket_get_fd(w->sk);
}

int kmodnl_watch_read(struct kmodnl_watch *w)
{
	int r;

	/* One receive per wake-up (poll says when there is more); other families' news
	 * is ignored. Non-blocking: nothing queued is not an error. */
	(void)nl_recvmsgs_default(w->sk);
	r = w->appeared;
	w->appeared = 0;
	return r;
}

void kmodnl_watch_close(struct kmodnl_watch *w)
{
	if (!w)
		return;
	nl_socket_free(w->sk);
	free(w);
}
