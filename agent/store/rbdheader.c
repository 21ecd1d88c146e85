// SPDX-License-Identifier: MIT
/*
 * An image's id and metadata straight from its RADOS objects, for open and status.
 * librbd's image open reads the header, snapshot context, parent and more in several
 * round trips, and each rbd_metadata_get then costs one more: about a dozen OSD round
 * trips per open. What an open needs is the id (cls rbd.get_id on rbd_id.<name>) and
 * pvenc's and ceph-csi's keys, which librbd keeps in the omap of rbd_header.<id> as
 * "metadata_<key>" with the raw value: two reads.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/rbd.h"
#include "util/macro.h"

#define OMAP_PREFIX "metadata_"
/* Per family: pvenc has 14 keys, ceph-csi 2. More is hostile input, not a volume. */
#define FAMILY_MAX_KEYS ((size_t)64)
/* img_meta_get's limit for librbd's values too. */
#define VALUE_MAX (64u << 10)

/* The key families vol_meta_read asks for (store/rbdmeta.h). */
static const char *const families[] = { "pvenc.", "rbd.csi.ceph.com/", ".rbd.csi.ceph.com/" };

static int in_families(const char *key)
{
	for (size_t f = 0; f < ARRAY_SIZE(families); f++)
		if (strncmp(key, families[f], strlen(families[f])) == 0)
			return 1;
	return 0;
}

/* rbd_id.<name> holds the id as an encoded string: le32 length, then the bytes. */
static int read_id(rados_ioctx_t io, const char *name, char *id, size_t len)
{
	char oid[16 + SPEC_NAME_MAX], out[128];
	uint32_t n;
	int r;

	(void)snprintf(oid, sizeof(oid), "rbd_id.%s", name);
	r = rados_exec(io, oid, "rbd", "get_id", NULL, 0, out, sizeof(out));
	if (r < 0)
		return r;
	if (r < 4)
		return -EBADMSG;
	memcpy(&n, out, sizeof(n));
	n = le32toh(n);
	if (n == 0 || n >= len || n > (uint32_t)r - 4)
		return -EBADMSG;
	for (uint32_t k = 0; k < n; k++) {
		char ch = out[4 + k];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z')))
			return -EBADMSG; /* librbd's ids are lowercase hex */
	}
	memcpy(id, out + 4, n);
	id[n] = '\0';
	return 0;
}

static int collect(struct img_head *i, rados_omap_iter_t it)
{
	char *k, *v;
	size_t klen, vlen;
	int r;

	while ((r = rados_omap_get_next2(it, &k, &v, &klen, &vlen)) == 0 && k) {
		struct img_meta_kv *kv;

		if (klen <= strlen(OMAP_PREFIX))
			continue;
		if (i->nkv >= ARRAY_SIZE(families) * FAMILY_MAX_KEYS)
			return -E2BIG; /* the OSD returned more than asked for */
		kv = &i->kv[i->nkv];
		kv->key = strndup(k + strlen(OMAP_PREFIX), klen - strlen(OMAP_PREFIX));
		kv->value = vlen <= VALUE_MAX ? strndup(v, vlen) : NULL;
		if (!kv->key || (vlen <= VALUE_MAX && !kv->value)) {
			free(kv->key);
			free(kv->value);
			return -ENOMEM;
		}
		i->nkv++;
	}
	return r;
}

/* Every key of the families, in one omap read with a filter per family. */
static int read_meta(struct img_head *i)
{
	enum {
		NF = ARRAY_SIZE(families)
	};
	rados_omap_iter_t it[NF] = { 0 };
	unsigned char more[NF] = { 0 };
	int prval[NF] = { 0 };
	char oid[96], prefix[NF][32];
	rados_read_op_t op;
	int r;

	i->kv = calloc(NF * FAMILY_MAX_KEYS, sizeof(*i->kv));
	op = rados_create_read_op();
	if (!i->kv || !op) {
		if (op)
			rados_release_read_op(op);
		return -ENOMEM;
	}
	(void)snprintf(oid, sizeof(oid), "rbd_header.%s", i->loc.id);
	for (size_t f = 0; f < NF; f++) {
		(void)snprintf(prefix[f], sizeof(prefix[f]), OMAP_PREFIX "%s", families[f]);
		rados_read_op_omap_get_vals2(op, "", prefix[f], FAMILY_MAX_KEYS, &it[f], &more[f],
					     &prval[f]);
	}
	r = rados_read_op_operate(op, i->loc.io, oid, 0);
	for (size_t f = 0; f < NF && r == 0; f++) {
		r = prval[f];
		if (r == 0 && more[f])
			r = -E2BIG;
		if (r == 0)
			r = collect(i, it[f]);
	}
	for (size_t f = 0; f < NF; f++)
		if (it[f])
			rados_omap_get_end(it[f]);
	rados_release_read_op(op);
	return r;
}

int img_head_open(struct cluster *c, const struct image_spec *spec, struct img_head **ret)
{
	struct img_head *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	r = img_loc_open(c, spec, &h->loc);
	if (r == 0)
		r = read_id(h->loc.io, spec->image, h->loc.id, sizeof(h->loc.id));
	if (r == 0)
		r = read_meta(h);
	if (r < 0) {
		img_head_close(h);
		return r;
	}
	*ret = h;
	return 0;
}

void img_head_close(struct img_head *h)
{
	if (!h)
		return;
	for (size_t k = 0; k < h->nkv; k++) {
		free(h->kv[k].key);
		free(h->kv[k].value);
	}
	free(h->kv);
	img_loc_close(&h->loc);
	free(h);
}

int img_head_get(const struct img_head *h, const char *key, char **value)
{
	if (!in_families(key))
		return -EOPNOTSUPP; /* not read at open: a caller needs img_open */
	for (size_t k = 0; k < h->nkv; k++) {
		if (strcmp(h->kv[k].key, key) != 0)
			continue;
		if (!h->kv[k].value)
			return -EFBIG; /* no pvenc value is that large: refuse hostile input */
		*value = strdup(h->kv[k].value);
		return *value ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

int img_head_getter(void *ctx, const char *key, char **value)
{
	return img_head_get(ctx, key, value);
}
