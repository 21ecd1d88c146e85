// SPDX-License-Identifier: MIT
/* The block-layer fallback of pvenc-stat and the key version shown by pvenc.ko. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats/blockstat.h"
#include "kms/kms.h"
#include "volume/kstat.h"

static void test_blockstat_17(void **state)
{
	uint64_t s[__PVENC_S_MAX];

	(void)state;
	/* Documentation/block/stat.rst order; distinct values so a swap shows. */
	assert_int_equal(
		blockstat_parse("  101 1 65536 7 202 2 131072 9 3 40 50 11 0 8 6 13 5\n", s), 0);
	assert_int_equal(s[PVENC_S_READS], 101);
	assert_int_equal(s[PVENC_S_READ_BYTES], 65536ULL * 512);
	assert_int_equal(s[PVENC_S_READ_NS], 7000000ULL);
	assert_int_equal(s[PVENC_S_WRITES], 202);
	assert_int_equal(s[PVENC_S_WRITE_BYTES], 131072ULL * 512);
	assert_int_equal(s[PVENC_S_WRITE_NS], 9000000ULL);
	assert_int_equal(s[PVENC_S_IN_FLIGHT], 3);
	assert_int_equal(s[PVENC_S_BUSY_MS], 40);
	assert_int_equal(s[PVENC_S_DISCARDS], 11);
	assert_int_equal(s[PVENC_S_DISCARD_BYTES], 8ULL * 512);
	assert_int_equal(s[PVENC_S_DISCARD_NS], 6000000ULL);
	assert_int_equal(s[PVENC_S_FLUSHES], 13);
	assert_int_equal(s[PVENC_S_FLUSH_NS], 5000000ULL);
	assert_int_equal(s[PVENC_S_ERRORS], 0);
}

static void test_blockstat_old_kernels(void **state)
{
	uint64_t s[__PVENC_S_MAX];

	(void)state;
	/* 11 fields before 4.18 (no discard), 15 before 5.5 (no flush). */
	assert_int_equal(blockstat_parse("1 0 8 0 2 0 16 0 0 0 0", s), 0);
	assert_int_equal(s[PVENC_S_WRITE_BYTES], 16 * 512);
	assert_int_equal(s[PVENC_S_DISCARDS], 0);
	assert_int_equal(blockstat_parse("1 0 8 0 2 0 16 0 0 0 0 4 0 32 1", s), 0);
	assert_int_equal(s[PVENC_S_DISCARD_BYTES], 32 * 512);
	assert_int_equal(s[PVENC_S_FLUSHES], 0);
}

static void test_blockstat_bad(void **state)
{
	uint64_t s[__PVENC_S_MAX];

	(void)state;
	assert_int_equal(blockstat_parse("", s), -EBADMSG);
	assert_int_equal(blockstat_parse("1 2 3", s), -EBADMSG);
	assert_int_equal(blockstat_parse("1 0 8 0 2 0 16 0 0 0 0 4 0", s), -EBADMSG);
	assert_int_equal(blockstat_parse("x 0 8 0 2 0 16 0 0 0 0", s), -EBADMSG);
}

static void test_blockstat_junk(void **state)
{
	uint64_t s[__PVENC_S_MAX];
	unsigned ma = 0, mi = 0;

	(void)state;
	assert_int_equal(blockstat_parse("1 0 8 0 2 0 16 0 0 0 0 4 0 32 1 5 6 7", s), -EBADMSG);
	assert_int_equal(blockstat_parse("1 0 8 0 2 0 16 0 0 0 -1", s), -EBADMSG);
	assert_int_equal(blockstat_parse("1 0 8 0 2 0 16 0 0 0 99999999999999999999999", s),
			 -EBADMSG);
	assert_int_equal(blockstat_parse_dev("254:17\n", &ma, &mi), 0);
	assert_int_equal(ma, 254);
	assert_int_equal(mi, 17);
	assert_int_equal(blockstat_parse_dev("254:", &ma, &mi), -EINVAL);
	assert_int_equal(blockstat_parse_dev(":1", &ma, &mi), -EINVAL);
	assert_int_equal(blockstat_parse_dev("254:1x", &ma, &mi), -EINVAL);
	assert_int_equal(blockstat_parse_dev("4096:1", &ma, &mi), -EINVAL);
}

static void test_key_version(void **state)
{
	(void)state;
	assert_int_equal(kms_key_version("vault:v1:abc"), 1);
	assert_int_equal(kms_key_version("vault:v17:abc"), 17);
	assert_int_equal(kms_key_version("{\"v\":1,\"alg\":\"A256GCM\"}"), 1);
	assert_int_equal(kms_key_version(NULL), 1);
	/* Malformed or absurd versions are not believed. */
	assert_int_equal(kms_key_version("vault:v:abc"), 1);
	assert_int_equal(kms_key_version("vault:v0:abc"), 1);
	assert_int_equal(kms_key_version("vault:v99999999999:abc"), 1);
	assert_int_equal(kms_key_version("vault:v3abc"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blockstat_17),  cmocka_unit_test(test_blockstat_old_kernels),
		cmocka_unit_test(test_blockstat_bad), cmocka_unit_test(test_blockstat_junk),
		cmocka_unit_test(test_key_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
