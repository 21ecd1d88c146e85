// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/retry.h"

/* A wrong key is never retried: every retry would fail the same way, and some KMSes
 * lock an account or token after repeated failures. */
static void test_wrong_keys_fail(void **state)
{
	(void)state;
	assert_int_equal(retry_class(-EPERM), RETRY_FAIL);
	assert_int_equal(retry_class(-EKEYREJECTED), RETRY_FAIL);
	assert_int_equal(retry_class(-ESTALE), RETRY_FAIL);
	assert_int_equal(retry_class(-EBADMSG), RETRY_FAIL);
	assert_int_equal(retry_class(-EEXIST), RETRY_FAIL);
	/* A hostile or foreign LUKS2 header stays refused. */
	assert_int_equal(retry_class(-EMEDIUMTYPE), RETRY_FAIL);
}

static void test_outages_retry(void **state)
{
	(void)state;
	assert_int_equal(retry_class(-EAGAIN), RETRY_AGAIN);
	assert_int_equal(retry_class(-ETIMEDOUT), RETRY_AGAIN);
	assert_int_equal(retry_class(-ECONNREFUSED), RETRY_AGAIN);
	assert_int_equal(retry_class(-EHOSTUNREACH), RETRY_AGAIN);
	assert_int_equal(retry_class(-EIO), RETRY_AGAIN);
	/* A token that expired: a fresh one written to its file is read on the next try. */
	assert_int_equal(retry_class(-EACCES), RETRY_AGAIN);
	assert_int_equal(retry_class(-ENOENT), RETRY_AGAIN);
}

static void test_plain_ignored(void **state)
{
	(void)state;
	assert_int_equal(retry_class(-ENOMSG), RETRY_IGNORE);
}

static void test_backoff(void **state)
{
	(void)state;
	/* rnd % 41 == 20: no jitter; base 1, 2, 4, ... capped. */
	assert_int_equal(retry_backoff(1, 300, 20), 2);
	assert_int_equal(retry_backoff(2, 300, 20), 3);
	assert_int_equal(retry_backoff(4, 300, 20), 9);
	assert_int_equal(retry_backoff(40, 300, 20), 301);
	assert_int_equal(retry_backoff(40, 4, 20), 5);
	/* The jitter stays within +-20 %. */
	for (uint32_t rnd = 0; rnd < 100; rnd++) {
		unsigned s = retry_backoff(10, 100, rnd);

		assert_true(s >= 81 && s <= 121);
	}
	assert_true(retry_backoff(0, 0, 0) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrong_keys_fail),
		cmocka_unit_test(test_outages_retry),
		cmocka_unit_test(test_plain_ignored),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
