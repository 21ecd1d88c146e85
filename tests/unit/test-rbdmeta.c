// SPDX-License-Identifier: MIT
/* Image-metadata schema: states, ceph-csi keys, and validation of hostile values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/rbdmeta.h"

struct kv {
	const char *k, *v;
};

/* A fake metadata store: NULL-terminated key/value list. */
static int getter(void *ctx, const char *key, char **value)
{
	for (const struct kv *p = ctx; p->k; p++)
		if (!strcmp(p->k, key)) {
			*value = strdup(p->v);
			return *value ? 0 : -ENOMEM;
		}
	return -ENOENT;
}

static int failing_getter(void *ctx, const char *key, char **value)
{
	return -EIO;
}

#define GOOD_UUID "d9dfbaf3-eac8-4094-9b0e-64cafa5d92c8"

static void test_plain(void **state)
{
	struct kv none[] = { { "other", "x" }, { NULL, NULL } };
	struct kv csi_empty[] = { { CSI_META_STATE, "" }, { NULL, NULL } };
	struct vol_meta m;

	assert_int_equal(vol_meta_read(getter, none, &m, NULL, 0), 0);
	assert_int_equal(m.kind, VOL_PLAIN);
	assert_int_equal(m.state, STATE_NONE);
	assert_int_equal(vol_meta_read(getter, csi_empty, &m, NULL, 0), 0);
	assert_int_equal(m.kind, VOL_PLAIN);
}

static void test_pvenc_states(void **state)
{
	struct kv md[] = {
		{ META_STATE, "formatted" },
		{ META_FORMAT, "1" },
		{ META_KMS, "lab-1" },
		{ META_ENDPOINT, "https://vault.example:8200" },
		{ META_UUID, GOOD_UUID },
		{ META_DEK, "{\"v\":1}" },
		{ NULL, NULL },
	};
	struct vol_meta m;

	assert_int_equal(vol_meta_read(getter, md, &m, NULL, 0), 0);
	assert_int_equal(m.kind, VOL_PVENC);
	assert_int_equal(m.state, STATE_FORMATTED);
	assert_string_equal(m.kms, "lab-1");
	assert_string_equal(m.uuid, GOOD_UUID);
	assert_string_equal(m.dek, "{\"v\":1}");
	assert_string_equal(vol_state_name(m.state), "formatted");
	vol_meta_clear(&m);
	md[0].v = "prepared";
	assert_int_equal(vol_meta_read(getter, md, &m, NULL, 0), 0);
	assert_int_equal(m.state, STATE_PREPARED);
	vol_meta_clear(&m);
}

static void test_hostile_values(void **state)
{
	/* Each case breaks one field of an otherwise valid record. */
	static const struct {
		const char *key, *value, *want;
	} cases[] = {
		{ META_STATE, "formatted\n", "pvenc.state" },
		{ META_STATE, "FORMATTED", "pvenc.state" },
		{ META_FORMAT, "2", "pvenc.format" },
		{ META_KMS, "", "pvenc.kms" },
		{ META_KMS, "../../etc", "pvenc.kms" },
		{ META_KMS, "a b", "pvenc.kms" },
		{ META_ENDPOINT, "http://x\r\nHost: evil", "pvenc.kms-endpoint" },
		{ META_UUID, "D9DFBAF3-EAC8-4094-9B0E-64CAFA5D92C8", "pvenc.uuid" },
		{ META_UUID, "d9dfbaf3eac840949b0e64cafa5d92c8", "pvenc.uuid" },
		{ META_UUID, GOOD_UUID "0", "pvenc.uuid" },
		{ META_DEK, "", "pvenc.dek" },
		{ META_DEK, "\x01\x02", "pvenc.dek" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kv md[] = {
			{ META_STATE, "formatted" },
			{ META_FORMAT, "1" },
			{ META_KMS, "lab" },
			{ META_ENDPOINT, "file:/k" },
			{ META_UUID, GOOD_UUID },
			{ META_DEK, "x" },
			{ NULL, NULL },
		};
		struct vol_meta m;
		char err[256] = "";

		for (struct kv *p = md; p->k; p++)
			if (!strcmp(p->k, cases[i].key))
				p->v = cases[i].value;
		if (vol_meta_read(getter, md, &m, err, sizeof(err)) != -EBADMSG)
			fail_msg("case %zu (%s) accepted", i, cases[i].key);
		assert_non_null(strstr(err, cases[i].want));
		assert_null(m.dek);
	}
}

static void test_missing_fields(void **state)
{
	struct kv md[] = { { META_STATE, "prepared" }, { META_FORMAT, "1" }, { NULL, NULL } };
	struct vol_meta m;
	char err[256];

	assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "pvenc.kms"));
}

static void test_oversize_dek(void **state)
{
	char *big = malloc(META_DEK_MAX + 2);
	struct vol_meta m;

	assert_non_null(big);
	memset(big, 'A', META_DEK_MAX + 1);
	big[META_DEK_MAX + 1] = '\0';
	{
		struct kv md[] = {
			{ META_STATE, "formatted" },
			{ META_FORMAT, "1" },
			{ META_KMS, "lab" },
			{ META_ENDPOINT, "" },
			{ META_UUID, GOOD_UUID },
			{ META_DEK, big },
			{ NULL, NULL },
		};

		assert_int_equal(vol_meta_read(getter, md, &m, NULL, 0), -EBADMSG);
		big[META_DEK_MAX] = '\0';
		assert_int_equal(vol_meta_read(getter, md, &m, NULL, 0), 0);
		vol_meta_clear(&m);
	}
	free(big);
}

static void test_cephcsi(void **state)
{
	struct kv enc[] = { { CSI_META_STATE, "encrypted" },
			    { CSI_META_DEK, "{\"dek\":\"x\",\"nonce\":\"y\"}" },
			    { NULL, NULL } };
	struct kv legacy[] = { { CSI_META_STATE_LEGACY, "encryptionPrepared" },
			       { CSI_META_DEK_LEGACY, "{}" },
			       { NULL, NULL } };
	struct kv kvdek[] = { { CSI_META_STATE, "encrypted" }, { NULL, NULL } };
	struct kv bad[] = { { CSI_META_STATE, "yes" }, { NULL, NULL } };
	struct vol_meta m;

	assert_int_equal(vol_meta_read(getter, enc, &m, NULL, 0), 0);
	assert_int_equal(m.kind, VOL_CEPHCSI);
	assert_int_equal(m.state, STATE_FORMATTED);
	assert_non_null(m.dek);
	vol_meta_clear(&m);
	assert_int_equal(vol_meta_read(getter, legacy, &m, NULL, 0), 0);
	assert_int_equal(m.state, STATE_PREPARED);
	assert_string_equal(m.dek, "{}");
	vol_meta_clear(&m);
	/* DEK held by the KMS (ceph-csi vault KMSes): no dek key. */
	assert_int_equal(vol_meta_read(getter, kvdek, &m, NULL, 0), 0);
	assert_null(m.dek);
	assert_int_equal(vol_meta_read(getter, bad, &m, NULL, 0), -EBADMSG);
}

static void test_store_errors_propagate(void **state)
{
	struct vol_meta m;

	assert_int_equal(vol_meta_read(failing_getter, NULL, &m, NULL, 0), -EIO);
}

static void test_rotation_keys(void **state)
{
	struct kv md[] = {
		{ META_STATE, "formatted" },
		{ META_FORMAT, "1" },
		{ META_KMS, "lab" },
		{ META_ENDPOINT, "file:/k" },
		{ META_UUID, GOOD_UUID },
		{ META_DEK, "{\"v\":1}" },
		{ META_DEK_NEXT, "vault:v2:abc" },
		{ META_DEK_VERSION, "7" },
		{ META_ROTATED_AT, "1795390000" },
		{ META_ROTATION, "@every 12h" },
		{ NULL, NULL },
	};
	static const struct {
		const char *key, *value;
	} bad[] = {
		{ META_DEK_NEXT, "" },
		{ META_DEK_NEXT, "a\nb" },
		{ META_DEK_VERSION, "0" },
		{ META_DEK_VERSION, "-1" },
		{ META_DEK_VERSION, "4294967296" },
		{ META_DEK_VERSION, "1x" },
		{ META_ROTATED_AT, "" },
		{ META_ROTATED_AT, "99999999999999999999" },
		/* 19 digits above INT64_MAX: found by fuzz-rbdmeta (signed overflow) */
		{ META_ROTATED_AT, "9790000000000000000" },
		{ META_ROTATED_AT, "9223372036854775808" },
		{ META_ROTATED_AT, "1e9" },
		{ META_ROTATED_AT, "253402300800" },
		{ META_ROTATION, "weekly" },
		{ META_ROTATION, "@every 0s" },
		{ META_ROTATION, "@every 1s; rm -rf /" },
	};
	struct vol_meta m;
	char err[256];

	(void)state;
	assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), 0);
	assert_string_equal(m.dek_next, "vault:v2:abc");
	assert_int_equal(m.dek_version, 7);
	assert_int_equal(m.rotated_at, 1795390000);
	assert_string_equal(m.rotation, "@every 12h");
	vol_meta_clear(&m);
	/* absent: version 1, never rotated, no schedule, nothing pending */
	md[6].k = "x1";
	md[7].k = "x2";
	md[8].k = "x3";
	md[9].k = "x4";
	assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), 0);
	assert_null(m.dek_next);
	assert_int_equal(m.dek_version, 1);
	assert_int_equal(m.rotated_at, 0);
	assert_string_equal(m.rotation, "");
	vol_meta_clear(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		md[6] = (struct kv){ bad[i].key, bad[i].value };
		assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, bad[i].key));
	}
}

/* pvenc.migrate-from: "ID ENDPOINT", a KMS id without path characters. */
static void test_migrate_from(void **state)
{
	struct kv md[] = {
		{ META_STATE, "formatted" },
		{ META_FORMAT, "1" },
		{ META_KMS, "lab" },
		{ META_ENDPOINT, "file:/k" },
		{ META_UUID, GOOD_UUID },
		{ META_MIGRATE_FROM, "kv2 https://vault.example:8200" },
		{ NULL, NULL },
	};
	static const char *const bad[] = { "kv2", "", " https://x", "../kv2 https://x",
					   "kv2 a\nb" };
	struct vol_meta m;
	char err[256];

	(void)state;
	assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), 0);
	assert_string_equal(m.migrate_from, "kv2");
	assert_string_equal(m.migrate_from_endpoint, "https://vault.example:8200");
	vol_meta_clear(&m);
	md[5].v = "keyfile-old ";
	assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), 0);
	assert_string_equal(m.migrate_from, "keyfile-old");
	assert_string_equal(m.migrate_from_endpoint, "");
	vol_meta_clear(&m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		md[5].v = bad[i];
		assert_int_equal(vol_meta_read(getter, md, &m, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, META_MIGRATE_FROM));
	}
}

static void test_validators(void **state)
{
	assert_true(meta_valid_kms_id("vault-tenant_a.1"));
	assert_false(meta_valid_kms_id("vault/x"));
	assert_true(meta_valid_uuid(GOOD_UUID));
	assert_false(meta_valid_uuid("d9dfbaf3-eac8-4094-9b0e-64cafa5d92cg"));
	assert_true(meta_valid_text("abc ~", 5));
	assert_false(meta_valid_text("abcdef", 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_pvenc_states),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_oversize_dek),
		cmocka_unit_test(test_cephcsi),
		cmocka_unit_test(test_store_errors_propagate),
		cmocka_unit_test(test_validators),
		cmocka_unit_test(test_rotation_keys),
		cmocka_unit_test(test_migrate_from),
	};

	return cmocka_run_group_tests_name("rbdmeta", tests, NULL, NULL);
}
