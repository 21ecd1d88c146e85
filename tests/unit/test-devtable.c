// SPDX-License-Identifier: MIT
/* The agent's device table and queue (daemon/devtable.c), driven with a fake clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/devtable.h"

static const struct devtab_policy pol = { .retry_limit = 0,
					  .retry_max_s = 300,
					  .rotation_check_s = 60 };

/* A job for @devid with @result, run and accounted at @now. */
static enum dev_event run(struct devtable *t, const struct devtab_policy *p, int devid,
			  enum job_op op, int result, time_t now, unsigned *wait)
{
	struct job j = { .devid = devid, .op = op, .result = result };

	(void)snprintf(j.image, sizeof(j.image), "rbd/v%d", devid);
	(void)snprintf(j.err, sizeof(j.err), "error %d", result);
	return devtab_account(t, p, &j, now, 20, wait); /* rnd 20: no jitter */
}

static void test_queue_coalesces_and_skips_busy(void **state)
{
	struct devtable t = { 0 };
	struct job *a, *b, *w;
	struct dev *d;

	(void)state;
	a = devtab_enqueue(&t, 1, JOB_OPEN, 0, 0);
	b = devtab_enqueue(&t, 1, JOB_OPEN, 0, 0);
	assert_ptr_equal(a, b); /* an unwaited duplicate is the same job */
	w = devtab_enqueue(&t, 1, JOB_OPEN, 0, 1);
	assert_ptr_not_equal(a, w); /* a waited one is its own */
	(void)devtab_enqueue(&t, 2, JOB_CLOSE, 1, 0);
	d = devtab_get(&t, 1, 1);
	d->busy = 1;
	b = devtab_dequeue(&t); /* device 1 is busy: device 2's job first */
	assert_int_equal(b->devid, 2);
	assert_int_equal(b->deferred, 1);
	free(b);
	assert_null(devtab_dequeue(&t));
	d->busy = 0;
	b = devtab_dequeue(&t);
	assert_ptr_equal(b, a); /* then in order */
	free(b);
	b = devtab_dequeue(&t);
	assert_ptr_equal(b, w);
	free(b);
	assert_null(devtab_dequeue(&t));
	assert_null(t.jobs_tail);
	devtab_free(&t);
}

static void test_outage_retries_with_backoff(void **state)
{
	struct devtable t = { 0 };
	unsigned wait = 0;
	struct job *j;
	struct dev *d;

	(void)state;
	assert_int_equal(run(&t, &pol, 3, JOB_OPEN, -ETIMEDOUT, 1000, &wait), DEV_EV_RETRY);
	d = devtab_get(&t, 3, 0);
	assert_int_equal(d->state, DEV_RETRY);
	assert_int_equal(wait, 2);
	assert_int_equal(d->next_try, 1002);
	assert_string_equal(d->last_error, "error -110");
	assert_string_equal(d->image, "rbd/v3");
	/* Not due yet: nothing queued, the next wake-up in 1 s. */
	assert_int_equal(devtab_due(&t, &pol, 1001), 1);
	assert_null(t.jobs);
	/* Due: queued as an open, still "retrying" (with its error) while it runs, and
	 * not queued again before its outcome is in. */
	assert_int_equal(devtab_due(&t, &pol, 1002), -1);
	assert_int_equal(d->state, DEV_RETRY);
	j = devtab_dequeue(&t);
	assert_non_null(j);
	assert_int_equal(j->op, JOB_OPEN);
	assert_int_equal(devtab_due(&t, &pol, 5000), -1);
	assert_null(t.jobs);
	free(j);
	/* The second failure waits longer; success resets the count and the error. */
	assert_int_equal(run(&t, &pol, 3, JOB_OPEN, -EAGAIN, 1002, &wait), DEV_EV_RETRY);
	assert_int_equal(wait, 3);
	assert_int_equal(d->attempts, 2);
	assert_int_equal(run(&t, &pol, 3, JOB_OPEN, 0, 1005, &wait), DEV_EV_OPENED);
	assert_int_equal(d->state, DEV_OPEN);
	assert_int_equal(d->attempts, 0);
	assert_string_equal(d->last_error, "");
	/* Open again (already open): nothing new to log. */
	assert_int_equal(run(&t, &pol, 3, JOB_OPEN, 0, 1006, &wait), DEV_EV_NONE);
	devtab_free(&t);
}

static void test_wrong_key_fails_at_once(void **state)
{
	struct devtable t = { 0 };
	unsigned wait = 0;

	(void)state;
	assert_int_equal(run(&t, &pol, 4, JOB_OPEN, -EPERM, 10, &wait), DEV_EV_FAILED);
	assert_int_equal(devtab_get(&t, 4, 0)->state, DEV_FAILED);
	assert_int_equal(devtab_due(&t, &pol, 100000), -1); /* never retried by time */
	assert_null(t.jobs);
	/* A reload queues it again. */
	assert_int_equal(devtab_requeue_failed(&t), 1);
	assert_int_equal(devtab_get(&t, 4, 0)->state, DEV_QUEUED);
	assert_int_equal(devtab_get(&t, 4, 0)->attempts, 0);
	assert_non_null(t.jobs);
	devtab_free(&t);
}

static void test_retry_limit_and_ignore(void **state)
{
	const struct devtab_policy lim = { .retry_limit = 2,
					   .retry_max_s = 300,
					   .rotation_check_s = 60 };
	struct devtable t = { 0 };
	unsigned wait = 0;
	int n[DEV_NSTATES];

	(void)state;
	assert_int_equal(run(&t, &lim, 5, JOB_OPEN, -EAGAIN, 0, &wait), DEV_EV_RETRY);
	assert_int_equal(run(&t, &lim, 5, JOB_OPEN, -EAGAIN, 5, &wait), DEV_EV_FAILED);
	assert_int_equal(run(&t, &lim, 6, JOB_OPEN, -ENOMSG, 0, &wait), DEV_EV_IGNORED);
	assert_int_equal(run(&t, &lim, 6, JOB_OPEN, -ENOMSG, 1, &wait), DEV_EV_NONE);
	devtab_count(&t, n);
	assert_int_equal(n[DEV_FAILED], 1);
	assert_int_equal(n[DEV_IGNORED], 1);
	assert_int_equal(n[DEV_OPEN], 0);
	assert_string_equal(dev_state_name(DEV_RETRY), "retrying");
	devtab_free(&t);
}

static void test_close_unmap_and_rotation_checks(void **state)
{
	struct devtable t = { 0 };
	unsigned wait = 0;
	struct job j = { .devid = 7, .op = JOB_OPEN, .have_rot = 1, .rot_period = 3600 };
	struct job *q;
	struct dev *d;

	(void)state;
	assert_int_equal(devtab_account(&t, &pol, &j, 100, 0, &wait), DEV_EV_OPENED);
	d = devtab_get(&t, 7, 0);
	assert_int_equal(d->rot_check, 160);
	/* A check every rotation_check_s while the schedule is on. */
	assert_int_equal(devtab_due(&t, &pol, 100), 60);
	assert_null(t.jobs);
	assert_int_equal(devtab_due(&t, &pol, 160), 60);
	q = devtab_dequeue(&t);
	assert_int_equal(q->op, JOB_ROTATE);
	free(q);
	/* A failed rotation leaves the volume open. */
	assert_int_equal(run(&t, &pol, 7, JOB_ROTATE, -EIO, 161, &wait), DEV_EV_ROTATE_FAILED);
	assert_int_equal(d->state, DEV_OPEN);
	/* A busy close changes nothing; a close does; an unmap forgets the device. */
	assert_int_equal(run(&t, &pol, 7, JOB_CLOSE, -EBUSY, 162, &wait), DEV_EV_NONE);
	assert_int_equal(d->state, DEV_OPEN);
	assert_int_equal(run(&t, &pol, 7, JOB_CLOSE, 0, 163, &wait), DEV_EV_CLOSED);
	assert_int_equal(d->state, DEV_CLOSED);
	assert_int_equal(devtab_due(&t, &pol, 10000), -1); /* closed: no checks */
	assert_int_equal(run(&t, &pol, 7, JOB_UNMAP, 0, 164, &wait), DEV_EV_CLOSED);
	assert_null(devtab_get(&t, 7, 0));
	devtab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_coalesces_and_skips_busy),
		cmocka_unit_test(test_outage_retries_with_backoff),
		cmocka_unit_test(test_wrong_key_fails_at_once),
		cmocka_unit_test(test_retry_limit_and_ignore),
		cmocka_unit_test(test_close_unmap_and_rotation_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
