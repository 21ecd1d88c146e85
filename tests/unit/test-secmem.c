// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/secmem.h"

static void test_alloc_zeroed(void **state)
{
	uint8_t *p = secmem_alloc(100);

	assert_non_null(p);
	assert_int_equal(secmem_len(p), 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, 100);
	secmem_free(p);
}

static void test_page_spanning(void **state)
{
	size_t n = (size_t)sysconf(_SC_PAGESIZE) * 3 + 17;
	uint8_t *p = secmem_alloc(n);

	assert_non_null(p);
	assert_int_equal(secmem_len(p), n);
	memset(p, 0x11, n); /* the whole length is writable */
	assert_int_equal(((uintptr_t)p) % 16, 0);
	secmem_free(p);
}

static void test_realloc_keeps_content(void **state)
{
	char *p = secmem_alloc(8);

	assert_non_null(p);
	memcpy(p, "secret!", 8);
	p = secmem_realloc(p, 5000);
	assert_non_null(p);
	assert_int_equal(secmem_len(p), 5000);
	assert_string_equal(p, "secret!");
	p = secmem_realloc(p, 3);
	assert_non_null(p);
	assert_memory_equal(p, "sec", 3);
	secmem_free(p);
	p = secmem_realloc(NULL, 4);
	assert_non_null(p);
	secmem_free(p);
}

static void test_free_null_and_len_null(void **state)
{
	secmem_free(NULL);
	assert_int_equal(secmem_len(NULL), 0);
}

static void test_overflow(void **state)
{
	errno = 0;
	assert_null(secmem_alloc(SIZE_MAX - 10));
	assert_int_equal(errno, ENOMEM);
}

static void test_cleanup_attribute(void **state)
{
	{
		_cleanup_secmem_ char *s = secmem_alloc(32);

		assert_non_null(s);
		memcpy(s, "wiped on scope exit", 20);
	}
	/* Nothing to observe after unmap; valgrind/ASan runs catch a missed free. */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed),
		cmocka_unit_test(test_page_spanning),
		cmocka_unit_test(test_realloc_keeps_content),
		cmocka_unit_test(test_free_null_and_len_null),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_cleanup_attribute),
	};

	return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
