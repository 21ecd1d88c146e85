// SPDX-License-Identifier: MIT
/* The agent's control-protocol parser: valid requests and hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/proto.h"

static int parse(const char *s, struct ctl_request *r)
{
	char err[256];

	return ctl_parse_request(s, strlen(s), r, err, sizeof(err));
}

static void test_valid(void **state)
{
	struct ctl_request r;

	assert_int_equal(parse("{\"op\":\"ping\"}", &r), 0);
	assert_int_equal(r.op, CTL_PING);
	assert_int_equal(parse("{\"op\":\"event\",\"action\":\"add\",\"device\":\"rbd12\"}", &r),
			 0);
	assert_int_equal(r.op, CTL_EVENT);
	assert_int_equal(r.action, CTL_ADD);
	assert_int_equal(r.devid, 12);
	assert_int_equal(parse("{\"op\":\"event\",\"action\":\"change\",\"device\":\"rbd0\"}", &r),
			 0);
	assert_int_equal(r.action, CTL_CHANGE);
	assert_int_equal(
		parse("{\"op\":\"close\",\"target\":\"rbd/ns/img@s\",\"deferred\":true}", &r), 0);
	assert_int_equal(r.op, CTL_CLOSE);
	assert_string_equal(r.target, "rbd/ns/img@s");
	assert_true(r.deferred);
	assert_int_equal(parse("{\"op\":\"list\"}", &r), 0);
	assert_int_equal(r.op, CTL_LIST);
	assert_string_equal(ctl_op_name(CTL_UNMAP), "unmap");
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"\"ping\"",
		"{\"op\":\"ping\"} {\"op\":\"ping\"}",
		"{\"op\":1}",
		"{\"op\":\"format\"}",
		"{\"op\":\"open\"}",
		"{\"op\":\"open\",\"target\":\"\"}",
		"{\"op\":\"open\",\"target\":5}",
		"{\"op\":\"close\",\"target\":\"x\",\"deferred\":\"yes\"}",
		"{\"op\":\"event\",\"action\":\"add\",\"device\":\"sda\"}",
		"{\"op\":\"event\",\"action\":\"add\",\"device\":\"rbd\"}",
		"{\"op\":\"event\",\"action\":\"add\",\"device\":\"rbd1p1\"}",
		"{\"op\":\"event\",\"action\":\"add\",\"device\":\"rbd-1\"}",
		"{\"op\":\"event\",\"action\":\"add\",\"device\":\"rbd99999999999\"}",
		"{\"op\":\"event\",\"action\":\"bind\",\"device\":\"rbd1\"}",
	};
	struct ctl_request r;

	static const char deep[] =
		"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &r) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	/* nested deeper than the parser allows */
	assert_int_equal(parse(deep, &r), -EINVAL);
}

static void test_oversize(void **state)
{
	size_t n = CTL_MAX_LINE + 10;
	char *s = malloc(n + 1);
	struct ctl_request r;
	char err[64];

	assert_non_null(s);
	memset(s, ' ', n);
	s[n] = '\0';
	assert_int_equal(ctl_parse_request(s, n, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "request too long");
	free(s);
}

static void test_target_too_long(void **state)
{
	char s[CTL_TARGET_MAX + 64];
	struct ctl_request r;
	int n = snprintf(s, sizeof(s), "{\"op\":\"open\",\"target\":\"");

	memset(s + n, 'a', CTL_TARGET_MAX);
	memcpy(s + n + CTL_TARGET_MAX, "\"}", 3);
	assert_int_equal(parse(s, &r), -EINVAL);
}

static void test_rbd_index(void **state)
{
	assert_int_equal(ctl_rbd_index("rbd0"), 0);
	assert_int_equal(ctl_rbd_index("rbd1048576"), 1048576);
	assert_int_equal(ctl_rbd_index("rbd1048577"), -EINVAL);
	assert_int_equal(ctl_rbd_index("rbd 1"), -EINVAL);
	assert_int_equal(ctl_rbd_index("nbd1"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	  cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_oversize),  cmocka_unit_test(test_target_too_long),
		cmocka_unit_test(test_rbd_index),
	};

	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
