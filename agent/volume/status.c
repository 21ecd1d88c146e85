// SPDX-License-Identifier: MIT
/* A volume's status as JSON (pvencctl status and list, the agent's answers). The list
 * is the node's own view (sysfs and device-mapper): it answers during a Ceph outage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/luks.h"
#include "volume/internal.h"
#include "volume/kstat.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* The node's side of a volume: its device-mapper mapping, if open. */
static void add_mapping(struct json_object *o, const struct vol *v)
{
	struct luks_status ls;

	if (v->dm[0] && luks_status(v->dm, &ls) > 0) {
		char path[160];

		(void)snprintf(path, sizeof(path), "/dev/mapper/%s", v->dm);
		json_object_object_add(o, "open", json_object_new_boolean(1));
		add_str(o, "dm_name", v->dm);
		add_str(o, "decrypted_device", path);
		add_str(o, "cipher", ls.cipher);
		json_object_object_add(o, "key_bits", json_object_new_int(ls.key_bits));
		json_object_object_add(o, "sector_size", json_object_new_int(ls.sector_size));
		json_object_object_add(o, "size_bytes",
				       json_object_new_int64((int64_t)ls.size_bytes));
		json_object_object_add(o, "read_only", json_object_new_boolean(ls.readonly));
	} else {
		json_object_object_add(o, "open", json_object_new_boolean(0));
	}
}

/* @strict: an image that cannot be opened fails; else, and for metadata that does not
 * parse, the error goes into the JSON. */
static int status_of(struct pvenc_ctx *ctx, struct vol *v, int strict, struct json_object **out)
{
	struct json_object *o = json_object_new_object();
	const struct vol_meta *m = &v->meta;
	int r;

	if (!o)
		return -ENOMEM;
	add_str(o, "image", v->name);
	add_str(o, "device", v->dev.id >= 0 ? v->dev.path : NULL);
	r = vol_need(ctx, v, VOL_META);
	if (r < 0 && !v->head) {
		if (strict) {
			json_object_put(o);
			return r;
		}
		add_str(o, "error", ctx->err);
		*out = o;
		return 0;
	}
	add_str(o, "image_id", v->head->loc.id);
	if (r < 0) {
		add_str(o, "error", ctx->err);
		*out = o;
		return 0;
	}
	add_str(o, "encryption", vol_kind_name(m->kind));
	add_str(o, "state", vol_state_name(m->state));
	if (m->kind == VOL_PVENC) {
		const char *src = NULL, *sched = NULL;
		int64_t period = vol_rotation_period(&ctx->cfg, &v->dev.spec, m, &sched, &src);

		if (!sched)
			sched = config_rotation(&ctx->cfg, v->dev.spec.pool, v->dev.spec.ns,
						m->rotation[0] ? m->rotation : NULL, &src);

		add_str(o, "kms", m->kms);
		add_str(o, "kms_endpoint", m->endpoint);
		add_str(o, "uuid", m->uuid);
		/* What the metadata says; `pvencctl verify` asks the KMS. */
		add_str(o, "binding", m->bound ? "scope" : "uuid-only");
		json_object_object_add(o, "dek_version", json_object_new_int64(m->dek_version));
		json_object_object_add(o, "kek_version",
				       m->dek ? json_object_new_int64(kms_key_version(m->dek))
					      : NULL);
		json_object_object_add(o, "rotated_at",
				       m->rotated_at ? json_object_new_int64(m->rotated_at) : NULL);
		add_str(o, "rotation", sched);
		add_str(o, "rotation_from", src);
		/* The period in force: a schedule from image metadata is held to
		 * [rotation] image-minimum. */
		json_object_object_add(o, "rotation_period_s", json_object_new_int64(period));
		json_object_object_add(o, "rotation_in_progress",
				       json_object_new_boolean(m->dek_next != NULL));
		/* What the metadata names; `pvencctl verify` checks that it opens. */
		json_object_object_add(o, "recovery_kms",
				       m->recovery ? json_object_new_string(m->recovery_kms)
						   : NULL);
	}
	add_mapping(o, v);
	*out = o;
	return 0;
}

int volume_status(struct pvenc_ctx *ctx, struct vol *v, struct json_object **out)
{
	return status_of(ctx, v, 1, out);
}

/* The list's mapping fields, from device-mapper's table only: the device under it may
 * be rbd with the cluster out of reach, and the list must answer then. */
static void add_table(struct json_object *o, const struct krbd_dev *d)
{
	char dm[128], path[160];
	struct luks_status ls;

	if (krbd_dm_name(d, dm, sizeof(dm)) < 0 || luks_table_status(dm, d->path, &ls) <= 0) {
		/* A volume an earlier pvenc opened keeps its old name until closed. */
		if (krbd_dm_name_legacy(d, dm, sizeof(dm)) < 0 ||
		    luks_table_status(dm, d->path, &ls) <= 0) {
			json_object_object_add(o, "open", json_object_new_boolean(0));
			return;
		}
	}
	(void)snprintf(path, sizeof(path), "/dev/mapper/%s", dm);
	json_object_object_add(o, "open", json_object_new_boolean(1));
	add_str(o, "dm_name", dm);
	add_str(o, "decrypted_device", path);
	add_str(o, "cipher", ls.cipher);
	json_object_object_add(o, "key_bits", json_object_new_int(ls.key_bits));
	json_object_object_add(o, "sector_size", json_object_new_int(ls.sector_size));
	json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)ls.size_bytes));
	json_object_object_add(o, "read_only", json_object_new_boolean(ls.readonly));
}

int volume_list(struct json_object **out)
{
	struct json_object *arr = json_object_new_array();
	struct krbd_dev *devs;
	size_t n;
	int r;

	if (!arr)
		return -ENOMEM;
	r = krbd_dev_list(&devs, &n);
	if (r < 0) {
		json_object_put(arr);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		char name[SPEC_STR_MAX];

		if (!o)
			break;
		(void)image_spec_format(&devs[i].spec, name, sizeof(name));
		add_str(o, "image", name);
		add_str(o, "device", devs[i].path);
		add_str(o, "image_id", devs[i].image_id[0] ? devs[i].image_id : NULL);
		add_table(o, &devs[i]);
		json_object_array_add(arr, o);
	}
	free(devs);
	*out = arr;
	return 0;
}
