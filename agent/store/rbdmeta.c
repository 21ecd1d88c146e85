// SPDX-License-Identifier: MIT
#include "store/rbdmeta.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "util/schedule.h"

const char *vol_state_name(enum vol_state s)
{
	switch (s) {
	case STATE_PREPARED:
		return "prepared";
	case STATE_FORMATTED:
		return "formatted";
	default:
		return "none";
	}
}

const char *vol_kind_name(enum vol_kind k)
{
	switch (k) {
	case VOL_PVENC:
		return "pvenc";
	case VOL_CEPHCSI:
		return "ceph-csi";
	default:
		return "plain";
	}
}

int meta_valid_kms_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > META_KMS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int meta_valid_uuid(const char *s)
{
	if (strlen(s) != META_UUID_LEN)
		return 0;
	for (int i = 0; i < META_UUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

int meta_valid_text(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

void vol_meta_clear(struct vol_meta *m)
{
	free(m->dek);
	free(m->dek_next);
	free(m->recovery);
	memset(m, 0, sizeof(*m));
}

static int bad(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		(void)vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

/* Optional value: 0 and *v = NULL when absent. */
static int get_opt(meta_get_fn get, void *ctx, const char *key, char **v)
{
	int r = get(ctx, key, v);

	if (r == -ENOENT) {
		*v = NULL;
		return 0;
	}
	return r;
}

static int copy_checked(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* Decimal digits only, 1..max. */
static int parse_count(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (!*s || strlen(s) > 19)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		/* 19 digits can exceed INT64_MAX: refuse before the overflow (UB). */
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The rotation keys; absent keys keep their defaults. */
static int read_rotation(meta_get_fn get, void *ctx, struct vol_meta *m, char *err, size_t errlen)
{
	_cleanup_free_ char *next = NULL, *ver = NULL, *at = NULL, *sched = NULL;
	int64_t v, period;
	int r;

	if ((r = get_opt(get, ctx, META_DEK_NEXT, &next)) < 0 ||
	    (r = get_opt(get, ctx, META_DEK_VERSION, &ver)) < 0 ||
	    (r = get_opt(get, ctx, META_ROTATED_AT, &at)) < 0 ||
	    (r = get_opt(get, ctx, META_ROTATION, &sched)) < 0)
		return r;
	if (next && (!next[0] || !meta_valid_text(next, META_DEK_MAX)))
		return bad(err, errlen, "%s is empty, too long or not printable text",
			   META_DEK_NEXT);
	m->dek_version = 1;
	if (ver) {
		if (parse_count(ver, UINT32_MAX, &v) < 0)
			return bad(err, errlen, "%s is not a positive number", META_DEK_VERSION);
		m->dek_version = (uint32_t)v;
	}
	if (at) {
		/* Year 9999 at most: a hostile value must not make "now - at" overflow. */
		if (parse_count(at, 253402300799LL, &v) < 0)
			return bad(err, errlen, "%s is not a time in seconds", META_ROTATED_AT);
		m->rotated_at = v;
	}
	if (sched) {
		if (strlen(sched) >= sizeof(m->rotation) || schedule_parse(sched, &period) < 0)
			return bad(err, errlen,
				   "%s is not a schedule (@hourly, @daily, @weekly, @monthly, "
				   "@yearly, @every N[smhd] or off)",
				   META_ROTATION);
		(void)snprintf(m->rotation, sizeof(m->rotation), "%s", sched);
	}
	m->dek_next = TAKE_PTR(next);
	return 0;
}

/* The recovery key's three values. A recovery set up part way (a stopped `pvencctl
 * recovery set`) is no recovery key, not a malformed volume: the volume still opens. */
static int read_recovery(meta_get_fn get, void *ctx, struct vol_meta *m, char *err, size_t errlen)
{
	_cleanup_free_ char *kms = NULL, *ep = NULL, *key = NULL;
	int r;

	if ((r = get_opt(get, ctx, META_RECOVERY_KMS, &kms)) < 0 ||
	    (r = get_opt(get, ctx, META_RECOVERY_ENDPOINT, &ep)) < 0 ||
	    (r = get_opt(get, ctx, META_RECOVERY_KEY, &key)) < 0)
		return r;
	if (kms && !meta_valid_kms_id(kms))
		return bad(err, errlen, "%s is malformed", META_RECOVERY_KMS);
	if (ep && !meta_valid_text(ep, META_ENDPOINT_MAX))
		return bad(err, errlen, "%s is too long or not printable text",
			   META_RECOVERY_ENDPOINT);
	if (key && (!key[0] || !meta_valid_text(key, META_DEK_MAX)))
		return bad(err, errlen, "%s is empty, too long or not printable text",
			   META_RECOVERY_KEY);
	if (!kms || !ep || !key)
		return 0;
	(void)snprintf(m->recovery_kms, sizeof(m->recovery_kms), "%s", kms);
	(void)snprintf(m->recovery_endpoint, sizeof(m->recovery_endpoint), "%s", ep);
	m->recovery = TAKE_PTR(key);
	return 0;
}

/* pvenc.migrate-from: "ID ENDPOINT" (a KMS id has no space; the endpoint may be ""). */
static int read_migrate(meta_get_fn get, void *ctx, struct vol_meta *m, char *err, size_t errlen)
{
	_cleanup_free_ char *v = NULL;
	char *sp;
	int r = get_opt(get, ctx, META_MIGRATE_FROM, &v);

	if (r < 0 || !v)
		return r;
	sp = strchr(v, ' ');
	if (sp)
		*sp = '\0';
	if (!sp || !meta_valid_kms_id(v) || !meta_valid_text(sp + 1, META_ENDPOINT_MAX))
		return bad(err, errlen, "%s is not 'KMS-ID ENDPOINT'", META_MIGRATE_FROM);
	(void)snprintf(m->migrate_from, sizeof(m->migrate_from), "%s", v);
	(void)snprintf(m->migrate_from_endpoint, sizeof(m->migrate_from_endpoint), "%s", sp + 1);
	return 0;
}

static int read_pvenc(meta_get_fn get, void *ctx, const char *state, struct vol_meta *m, char *err,
		      size_t errlen)
{
	_cleanup_free_ char *fmt = NULL, *kms = NULL, *ep = NULL, *uuid = NULL, *dek = NULL,
			    *bind = NULL;
	int r;

	if (!strcmp(state, "prepared"))
		m->state = STATE_PREPARED;
	else if (!strcmp(state, "formatted"))
		m->state = STATE_FORMATTED;
	else
		return bad(err, errlen, "%s has an unknown value (want prepared or formatted)",
			   META_STATE);

	if ((r = get_opt(get, ctx, META_FORMAT, &fmt)) < 0 ||
	    (r = get_opt(get, ctx, META_KMS, &kms)) < 0 ||
	    (r = get_opt(get, ctx, META_ENDPOINT, &ep)) < 0 ||
	    (r = get_opt(get, ctx, META_UUID, &uuid)) < 0 ||
	    (r = get_opt(get, ctx, META_DEK, &dek)) < 0 ||
	    (r = get_opt(get, ctx, META_BINDING, &bind)) < 0)
		return r;
	if (bind && strcmp(bind, "scope") != 0)
		return bad(err, errlen, "%s is not a binding this pvenc knows (scope)",
			   META_BINDING);
	m->bound = !!bind;
	if (!fmt || strcmp(fmt, "1") != 0)
		return bad(err, errlen, "%s is missing or not a version this pvenc knows (1)",
			   META_FORMAT);
	if (!kms || !meta_valid_kms_id(kms))
		return bad(err, errlen, "%s is missing or malformed", META_KMS);
	if (!ep || !meta_valid_text(ep, META_ENDPOINT_MAX))
		return bad(err, errlen, "%s is missing or malformed", META_ENDPOINT);
	if (!uuid || !meta_valid_uuid(uuid))
		return bad(err, errlen, "%s is missing or not a lower-case UUID", META_UUID);
	if (dek && (!dek[0] || !meta_valid_text(dek, META_DEK_MAX)))
		return bad(err, errlen, "%s is empty, too long or not printable text", META_DEK);
	if (copy_checked(m->kms, sizeof(m->kms), kms) ||
	    copy_checked(m->endpoint, sizeof(m->endpoint), ep) ||
	    copy_checked(m->uuid, sizeof(m->uuid), uuid))
		return -EBADMSG; /* unreachable after validation */
	r = read_rotation(get, ctx, m, err, errlen);
	if (r == 0)
		r = read_recovery(get, ctx, m, err, errlen);
	if (r == 0)
		r = read_migrate(get, ctx, m, err, errlen);
	if (r < 0)
		return r;
	m->dek = TAKE_PTR(dek);
	m->kind = VOL_PVENC;
	return 0;
}

static int read_cephcsi(meta_get_fn get, void *ctx, const char *state, struct vol_meta *m,
			char *err, size_t errlen)
{
	_cleanup_free_ char *dek = NULL;
	int r;

	if (!strcmp(state, "encryptionPrepared"))
		m->state = STATE_PREPARED;
	else if (!strcmp(state, "encrypted"))
		m->state = STATE_FORMATTED;
	else
		return bad(err, errlen, "%s has an unknown value '%.32s'", CSI_META_STATE, state);
	r = get_opt(get, ctx, CSI_META_DEK, &dek);
	if (r == 0 && !dek)
		r = get_opt(get, ctx, CSI_META_DEK_LEGACY, &dek);
	if (r < 0)
		return r;
	if (dek && (!dek[0] || !meta_valid_text(dek, META_DEK_MAX)))
		return bad(err, errlen, "%s is empty, too long or not printable text",
			   CSI_META_DEK);
	m->dek = TAKE_PTR(dek);
	m->kind = VOL_CEPHCSI;
	return 0;
}

int vol_meta_read(meta_get_fn get, void *ctx, struct vol_meta *m, char *err, size_t errlen)
{
	_cleanup_free_ char *state = NULL;
	int r;

	memset(m, 0, sizeof(*m));
	r = get_opt(get, ctx, META_STATE, &state);
	if (r < 0)
		return r;
	if (state) {
		r = read_pvenc(get, ctx, state, m, err, errlen);
		goto out;
	}
	r = get_opt(get, ctx, CSI_META_STATE, &state);
	if (r == 0 && !state)
		r = get_opt(get, ctx, CSI_META_STATE_LEGACY, &state);
	if (r < 0)
		return r;
	/* ceph-csi writes "" for "unknown/none". */
	if (state && state[0]) {
		r = read_cephcsi(get, ctx, state, m, err, errlen);
		goto out;
	}
	m->kind = VOL_PLAIN;
	return 0;
out:
	if (r < 0)
		vol_meta_clear(m);
	return r;
}
