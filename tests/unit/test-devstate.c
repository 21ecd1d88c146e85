// SPDX-License-Identifier: MIT
/* The agent's device table across its restarts (daemon/devstate.c): what a restarted
 * agent takes over from its file, and what it refuses to. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/devstate.h"

static char dir[] = "/tmp/test-devstate.XXXXXX";
static char path[64];

static struct dev *add(struct devtable *t, int id, const char *image)
{
	struct dev *d = devtab_get(t, id, 1);

	assert_non_null(d);
	(void)snprintf(d->image, sizeof(d->image), "%s", image);
	return d;
}

static void write_file(const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(s, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_restart_keeps_errors_of_the_same_image(void **state)
{
	struct devtable before = { 0 }, after = { 0 };
	struct dev *d;

	(void)state;
	d = add(&before, 3, "rbd/failing");
	d->state = DEV_FAILED;
	d->attempts = 1;
	d->since = 1700000000;
	(void)snprintf(d->last_error, sizeof(d->last_error), "KMS \"lab\": key \"x\"\nrejected");
	d = add(&before, 4, "rbd/retrying");
	d->state = DEV_RETRY;
	d->attempts = 7;
	d->since = 1700000100;
	(void)snprintf(d->last_error, sizeof(d->last_error), "cannot connect");
	d = add(&before, 5, "rbd/open");
	d->state = DEV_OPEN;
	d->since = 1700000200;
	add(&before, 6, "rbd/old"); /* unmapped since; rbd6 now holds another image */
	assert_int_equal(devstate_save(&before, path), 0);
	assert_int_equal(access(path, F_OK), 0);

	/* The restarted agent's scan: rbd3..6 mapped, rbd6 now another image. */
	add(&after, 3, "rbd/failing");
	add(&after, 4, "rbd/retrying");
	add(&after, 5, "rbd/open");
	add(&after, 6, "rbd/new");
	assert_int_equal(devstate_load(&after, path), 0);
	d = devtab_get(&after, 3, 0);
	assert_int_equal(d->state, DEV_FAILED);
	assert_int_equal(d->attempts, 1);
	assert_int_equal(d->since, 1700000000);
	assert_string_equal(d->last_error, "KMS \"lab\": key \"x\"\nrejected");
	d = devtab_get(&after, 4, 0);
	assert_int_equal(d->state, DEV_RETRY);
	assert_int_equal(d->attempts, 7);
	assert_string_equal(d->last_error, "cannot connect");
	/* Open is what the scan finds it to be, not what the file says. */
	d = devtab_get(&after, 5, 0);
	assert_int_equal(d->state, DEV_QUEUED);
	assert_int_equal(d->since, 1700000200);
	/* Another image on a reused rbdN takes nothing over. */
	d = devtab_get(&after, 6, 0);
	assert_int_equal(d->state, DEV_QUEUED);
	assert_int_equal(d->since, 0);
	assert_string_equal(d->last_error, "");
	/* Devices the file names but the node no longer has are not made up. */
	assert_null(devtab_get(&after, 7, 0));
	devtab_free(&before);
	devtab_free(&after);
}

static void test_missing_and_hostile_files(void **state)
{
	struct devtable t = { 0 };
	struct dev *d;

	(void)state;
	(void)unlink(path);
	d = add(&t, 1, "rbd/a");
	assert_int_equal(devstate_load(&t, path), 0); /* first start: no file */
	write_file("{\"not\": \"an array\"}");
	assert_int_equal(devstate_load(&t, path), -EBADMSG);
	write_file("[1, \"x\", null, {\"id\": \"1\"}, {\"id\": 1, \"image\": \"rbd/a\", "
		   "\"state\": \"failed\", \"attempts\": -5, \"since\": 1, \"last_error\": \"e\"}, "
		   "{\"id\": 1, \"image\": \"rbd/a\", \"state\": \"exploded\", \"attempts\": 1, "
		   "\"since\": 1, \"last_error\": \"e\"}, {\"id\": 99999999999, \"image\": "
		   "\"rbd/a\"}]");
	assert_int_equal(devstate_load(&t, path), 0);
	assert_int_equal(d->state, DEV_QUEUED);
	assert_string_equal(d->last_error, "");
	write_file("[{\"id\": 1, \"image\": \"rbd/a\", \"state\": \"retrying\", \"attempts\": 2, "
		   "\"since\": 5, \"last_error\": \"");
	assert_int_equal(devstate_load(&t, path), -EBADMSG); /* truncated */
	assert_string_equal(d->last_error, "");
	devtab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restart_keeps_errors_of_the_same_image),
		cmocka_unit_test(test_missing_and_hostile_files),
	};
	int r;

	if (!mkdtemp(dir))
		return 1;
	(void)snprintf(path, sizeof(path), "%s/devices.json", dir);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	(void)unlink(path);
	(void)rmdir(dir);
	return r;
}
