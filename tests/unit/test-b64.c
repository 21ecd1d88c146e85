// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/b64.h"

/* RFC 4648 section 10 test vectors. */
static const char *const vec[][2] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_rfc4648(void **state)
{
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char enc[32];
		uint8_t dec[32];
		size_t n = strlen(vec[i][0]);
		int r;

		assert_true(b64_encoded_size(n) <= sizeof(enc));
		assert_int_equal(b64_encode((const uint8_t *)vec[i][0], n, enc), strlen(vec[i][1]));
		assert_string_equal(enc, vec[i][1]);
		r = b64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec));
		assert_int_equal(r, (int)n);
		assert_memory_equal(dec, vec[i][0], n);
	}
}

static void test_strict(void **state)
{
	static const char *const bad[] = { "Zg=",  "Zg",       "Z===", "Zm9v\n", "Zm 9",
					   "=Zm9", "Zg==Zg==", "Zm-v", "Zm_v",	 "Zm9v=" };
	uint8_t out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

static void test_nospace(void **state)
{
	uint8_t out[5];

	assert_int_equal(b64_decode("Zm9vYmFy", 8, out, sizeof(out)), -ENOSPC);
	assert_int_equal(b64_decode("Zm9vYg==", 8, out, 4), 4);
}

static void test_url(void **state)
{
	/* 0xfb 0xff 0xbf: '+', '/' in std, '-', '_' in url-safe */
	static const uint8_t raw[] = { 0xfb, 0xff, 0xbf };
	uint8_t out[8];
	char enc[8];

	b64_encode(raw, sizeof(raw), enc);
	assert_string_equal(enc, "+/+/");
	assert_int_equal(b64url_decode("-_-_", 4, out, sizeof(out)), 3);
	assert_memory_equal(out, raw, 3);
	assert_int_equal(b64url_decode("+/+/", 4, out, sizeof(out)), -EINVAL);
}

static void test_ceph_csi_passphrase(void **state)
{
	/* ceph-csi: 20 random bytes, base64.URLEncoding (padded) = 28 characters. */
	uint8_t out[32];

	assert_int_equal(b64url_decode("AAECAwQFBgcICQoLDA0ODxAREhM=", 28, out, sizeof(out)), 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(out[i], i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_nospace),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_ceph_csi_passphrase),
	};

	return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
