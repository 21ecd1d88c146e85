// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/config.h"
#include "util/schedule.h"

static void test_defaults(void **state)
{
	struct pvenc_config c;

	config_defaults(&c);
	assert_string_equal(c.kms_config, "/etc/pvenc/kms.json");
	assert_string_equal(c.ceph_conf, "");
	assert_true(c.discards);
	assert_false(c.no_read_wq || c.no_write_wq);
}

static void test_parse(void **state)
{
	const char *text = "# pvenc node config\n"
			   "[ceph]\n"
			   "conf = /etc/ceph/prod.conf\n"
			   "id=pvenc\n"
			   "\n"
			   "[kms]\n"
			   "  config = /etc/pvenc/kms-prod.json  \n"
			   "[ceph-csi]\n"
			   "cluster-id = rook-ceph\n"
			   "[open]\n"
			   "discards = no\n"
			   "no-read-workqueue = false\n"
			   "no-write-workqueue = yes\n";
	struct pvenc_config c;
	char err[256];

	config_defaults(&c);
	assert_int_equal(config_parse(text, "t", &c, err, sizeof(err)), 0);
	assert_string_equal(c.ceph_conf, "/etc/ceph/prod.conf");
	assert_string_equal(c.ceph_id, "pvenc");
	assert_string_equal(c.kms_config, "/etc/pvenc/kms-prod.json");
	assert_string_equal(c.csi_cluster_id, "rook-ceph");
	assert_false(c.discards);
	assert_false(c.no_read_wq);
	assert_true(c.no_write_wq);
}

static void test_encrypt_by_default(void **state)
{
	const char *text = "[encrypt-by-default]\n"
			   "rbd/trial* = vault dry-run\n"
			   "rbd/* = vault\n";
	struct pvenc_config c;
	char err[256];
	int dry = -1;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse(text, "t", &c, err, sizeof(err)), 0);
	assert_string_equal(config_policy_kms(&c, "rbd", "trial", &dry), "vault");
	assert_int_equal(dry, 1);
	assert_string_equal(config_policy_kms(&c, "rbd", "prod", &dry), "vault");
	assert_int_equal(dry, 0);
	assert_null(config_policy_kms(&c, "other", "", &dry));
	config_defaults(&c);
	assert_int_equal(config_parse("[encrypt-by-default]\nrbd/* = vault dry\n", "t", &c, err,
				      sizeof(err)),
			 -EINVAL);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[ceph]\ncnof = x\n", "t:2: unknown key 'cnof' in section [ceph]" },
		{ "conf = x\n", "t:1: unknown key 'conf' in section []" },
		{ "[open]\ndiscards = maybe\n", "t:2: invalid value for open.discards" },
		{ "[ceph\n", "t:1: malformed section header" },
		{ "[ceph]\njust words\n", "t:2: expected 'key = value'" },
		{ "[]\n", "t:1: malformed section header" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pvenc_config c;
		char err[256] = "";

		config_defaults(&c);
		assert_int_equal(config_parse(cases[i].text, "t", &c, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i].want);
	}
}

static void test_too_long_value(void **state)
{
	char text[600] = "[ceph]\nid = ";
	struct pvenc_config c;
	char err[256];

	memset(text + strlen(text), 'x', 200);
	config_defaults(&c);
	assert_int_equal(config_parse(text, "t", &c, err, sizeof(err)), -EINVAL);
}

static void test_missing_file(void **state)
{
	struct pvenc_config c;
	char err[256];

	assert_int_equal(config_load("/nonexistent/pvenc.conf", 0, &c, err, sizeof(err)), 0);
	assert_int_equal(config_load("/nonexistent/pvenc.conf", 1, &c, err, sizeof(err)), -ENOENT);
}

static void test_key_table_complete(void **state)
{
	/* Every documented key parses (the docs test compares this table to the docs). */
	for (size_t i = 0; i < config_keys_count; i++) {
		char text[256];
		struct pvenc_config c;
		char err[256];

		const char *k = config_keys[i].key;
		/* A valid sample value for each kind of key. */
		const char *v = !strcmp(k, "socket")				  ? "/run/x.sock"
				: (!strcmp(k, "jobs") || !strncmp(k, "retry", 5)) ? "3"
				: !strcmp(k, "check-interval")			  ? "30"
				: !strcmp(k, "precedence")			  ? "config"
				: (!strcmp(k, "schedule") || !strcmp(k, "image-minimum") ||
				   !strcmp(config_keys[i].section, "rotation-schedule"))
					? "@weekly"
					: "yes";

		(void)snprintf(text, sizeof(text), "[%s]\n%s = %s\n", config_keys[i].section, k, v);
		config_defaults(&c);
		if (config_parse(text, "t", &c, err, sizeof(err)) != 0)
			fail_msg("%s.%s: %s", config_keys[i].section, config_keys[i].key, err);
	}
}

static void test_rotation(void **state)
{
	static const char text[] = "[rotation]\nschedule = @weekly\n"
				   "[rotation-schedule]\nrbd = @daily\nrbd/tenant = @hourly\n"
				   "fast = @every 90s\n";
	struct pvenc_config c;
	const char *src;
	char err[256];

	config_defaults(&c);
	assert_string_equal(config_rotation(&c, "rbd", "", NULL, &src), "off");
	/* By default an image's own schedule counts only where the operator set none. */
	assert_string_equal(config_rotation(&c, "rbd", "", "@yearly", &src), "@yearly");
	assert_string_equal(src, "image");
	assert_int_equal(c.rotation_image_min_s, 3600);
	assert_int_equal(
		config_parse("[rotation]\nprecedence = image\n", "t", &c, err, sizeof(err)), 0);
	assert_int_equal(config_parse(text, "t", &c, err, sizeof(err)), 0);
	/* precedence = image: image > namespace > pool > global */
	assert_string_equal(config_rotation(&c, "rbd", "tenant", "@yearly", &src), "@yearly");
	assert_string_equal(src, "image");
	assert_string_equal(config_rotation(&c, "rbd", "tenant", NULL, &src), "@hourly");
	assert_string_equal(src, "namespace");
	assert_string_equal(config_rotation(&c, "rbd", "other", NULL, &src), "@daily");
	assert_string_equal(src, "pool");
	assert_string_equal(config_rotation(&c, "rbd", "", NULL, &src), "@daily");
	assert_string_equal(config_rotation(&c, "fast", "", NULL, &src), "@every 90s");
	assert_string_equal(config_rotation(&c, "ssd", "", NULL, &src), "@weekly");
	assert_string_equal(src, "global");
	/* config first: the operator's config wins over image metadata */
	assert_int_equal(
		config_parse("[rotation]\nprecedence = config\n", "t", &c, err, sizeof(err)), 0);
	assert_string_equal(config_rotation(&c, "rbd", "tenant", "@yearly", &src), "@hourly");
	assert_string_equal(config_rotation(&c, "ssd", "", "@yearly", &src), "@weekly");
	assert_string_equal(src, "global");
	assert_int_equal(
		config_parse("[rotation]\nimage-minimum = off\n", "t", &c, err, sizeof(err)), 0);
	assert_int_equal(c.rotation_image_min_s, 0);
	/* bad schedules are refused when the file is read */
	assert_int_equal(config_parse("[rotation]\nschedule = weekly\n", "t", &c, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(
		config_parse("[rotation-schedule]\na/b/c = @daily\n", "t", &c, err, sizeof(err)),
		-EINVAL);
}

static void test_schedule(void **state)
{
	int64_t p = -1;

	assert_int_equal(schedule_parse("off", &p), 0);
	assert_int_equal(p, 0);
	assert_int_equal(schedule_parse("@hourly", &p), 0);
	assert_int_equal(p, 3600);
	assert_int_equal(schedule_parse("@weekly", &p), 0);
	assert_int_equal(p, 604800);
	assert_int_equal(schedule_parse("@every 20s", &p), 0);
	assert_int_equal(p, 20);
	assert_int_equal(schedule_parse("@every 2d", &p), 0);
	assert_int_equal(p, 172800);
	static const char *const bad[] = {
		"",	     "@every",	   "@every 0s",	 "@every 5",
		"@every 5x", "@every -5s", "@every 5ss", "@every 99999999999d",
		"@Weekly",   "weekly",	   " @daily"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(schedule_parse(bad[i], &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),	   cmocka_unit_test(test_parse),
		cmocka_unit_test(test_encrypt_by_default), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_long_value),	   cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_key_table_complete), cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_schedule),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
