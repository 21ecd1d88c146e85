// SPDX-License-Identifier: MIT
/* Each KMS entry's health (kms/health.c): what counts as working and as failing, the
 * token time-to-live source, and the bound on entries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kms/health.h"
#include "kms/kms.h"

static struct json_object *entry(struct json_object *arr, const char *id)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *x;

		if (json_object_object_get_ex(o, "kms", &x) &&
		    !strcmp(json_object_get_string(x), id))
			return o;
	}
	return NULL;
}

static int64_t num(struct json_object *o, const char *k)
{
	struct json_object *x;

	return json_object_object_get_ex(o, k, &x) && x ? json_object_get_int64(x) : -999;
}

static long fixed_ttl(const void *arg)
{
	return *(const long *)arg;
}

static void test_success_failure_and_answers(void **state)
{
	struct kms k = { .id = (char *)"vault" };
	struct json_object *arr, *o, *x;
	static const long ttl = 1234;

	(void)state;
	kms_health_reset();
	assert_int_equal(kms_health_note(&k, 0), 0);
	(void)snprintf(k.error, sizeof(k.error), "Vault at https://v:8200 is sealed");
	assert_int_equal(kms_health_note(&k, -EAGAIN), -EAGAIN);
	/* A key the KMS does not have is an answer: the KMS works. */
	k.error[0] = '\0';
	assert_int_equal(kms_health_note(&k, -ENOENT), -ENOENT);
	kms_health_ttl_source("vault", fixed_ttl, &ttl);
	arr = kms_health_json();
	o = entry(arr, "vault");
	assert_non_null(o);
	assert_true(num(o, "last_success") >= num(o, "last_failure"));
	assert_true(num(o, "last_failure") > 0);
	assert_true(json_object_object_get_ex(o, "last_error", &x));
	assert_string_equal(json_object_get_string(x), "Vault at https://v:8200 is sealed");
	assert_int_equal(num(o, "token_ttl_s"), 1234);
	json_object_put(arr);
	/* Setting the entry up failed (a key file that is not there): a failure. */
	(void)snprintf(k.error, sizeof(k.error), "cannot read keyFile /k: No such file");
	assert_int_equal(kms_health_fail(&k, -ENOENT), -ENOENT);
	arr = kms_health_json();
	o = entry(arr, "vault");
	assert_true(num(o, "last_failure") >= num(o, "last_success"));
	assert_true(json_object_object_get_ex(o, "last_error", &x));
	assert_string_equal(json_object_get_string(x), "cannot read keyFile /k: No such file");
	json_object_put(arr);
}

static void test_no_id_and_bounded(void **state)
{
	struct kms k = { .id = NULL };
	struct json_object *arr;
	char id[32];

	(void)state;
	kms_health_reset();
	assert_int_equal(kms_health_note(&k, -EIO), -EIO); /* no entry, no crash */
	for (int i = 0; i < 100; i++) {
		(void)snprintf(id, sizeof(id), "kms-%d", i);
		k.id = id;
		(void)kms_health_note(&k, 0);
	}
	arr = kms_health_json();
	assert_int_equal(json_object_array_length(arr), 64);
	assert_null(entry(arr, "kms-99"));
	assert_non_null(entry(arr, "kms-0"));
	json_object_put(arr);
	kms_health_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_failure_and_answers),
		cmocka_unit_test(test_no_id_and_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
