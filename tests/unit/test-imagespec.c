// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/imagespec.h"

static void parse_ok(const char *s, const char *pool, const char *ns, const char *img,
		     const char *snap)
{
	struct image_spec spec;
	char buf[1100];

	assert_int_equal(image_spec_parse(s, &spec), 0);
	assert_string_equal(spec.pool, pool);
	assert_string_equal(spec.ns, ns);
	assert_string_equal(spec.image, img);
	assert_string_equal(spec.snap, snap);
	assert_int_equal(image_spec_format(&spec, buf, sizeof(buf)), 0);
	assert_string_equal(buf, s);
}

static void test_valid(void **state)
{
	parse_ok("rbd/img", "rbd", "", "img", "");
	parse_ok("rbd/tenant-a/img", "rbd", "tenant-a", "img", "");
	parse_ok("rbd/img@snap1", "rbd", "", "img", "snap1");
	parse_ok("p.q/ns_1/csi-vol-0a9f@s", "p.q", "ns_1", "csi-vol-0a9f", "s");
	parse_ok("rbd/...x", "rbd", "", "...x", "");
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"",	    "img",	  "/img",	 "rbd/",     "rbd//img",   "rbd/a/b/c",
		"rbd/img@", "rbd/@snap",  "rbd/i@s@t",	 "rbd/im g", "rbd/im\tg",  "rbd/.",
		"rbd/..",   "rbd/../img", "rbd/img\x7f", "rbd/a/..", "rbd/img@..", "rbd\n/img",
	};
	struct image_spec spec;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = image_spec_parse(bad[i], &spec);

		if (r != -EINVAL)
			fail_msg("spec '%s' gave %d, want -EINVAL", bad[i], r);
	}
	assert_int_equal(image_spec_parse(NULL, &spec), -EINVAL);
}

static void test_too_long(void **state)
{
	char s[SPEC_NAME_MAX + 16];
	struct image_spec spec;

	memset(s, 'a', sizeof(s));
	memcpy(s, "rbd/", 4);
	s[4 + SPEC_NAME_MAX] = '\0';
	assert_int_equal(image_spec_parse(s, &spec), 0);
	s[4 + SPEC_NAME_MAX] = 'a';
	s[5 + SPEC_NAME_MAX] = '\0';
	assert_int_equal(image_spec_parse(s, &spec), -ENAMETOOLONG);
}

static void test_untouched_on_error(void **state)
{
	struct image_spec spec;

	memset(&spec, 0x5a, sizeof(spec));
	assert_int_equal(image_spec_parse("rbd/ns/img@", &spec), -EINVAL);
	assert_int_equal((unsigned char)spec.pool[0], 0x5a);
}

static void test_format_nospace(void **state)
{
	struct image_spec spec;
	char buf[6];

	assert_int_equal(image_spec_parse("rbd/img", &spec), 0);
	assert_int_equal(image_spec_format(&spec, buf, sizeof(buf)), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	       cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_too_long),       cmocka_unit_test(test_untouched_on_error),
		cmocka_unit_test(test_format_nospace),
	};

	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
