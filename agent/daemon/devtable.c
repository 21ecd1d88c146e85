// SPDX-License-Identifier: MIT
#include "daemon/devtable.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/retry.h"

const char *dev_state_name(enum dev_state s)
{
	static const char *const names[] = {
		[DEV_QUEUED] = "opening", [DEV_OPEN] = "open",	     [DEV_RETRY] = "retrying",
		[DEV_FAILED] = "failed",  [DEV_IGNORED] = "ignored", [DEV_CLOSED] = "closed",
	};

	return (unsigned)s < DEV_NSTATES ? names[s] : "?";
}

struct dev *devtab_get(struct devtable *t, int id, int create)
{
	struct dev *d;

	for (d = t->devs; d; d = d->next)
		if (d->id == id)
			return d;
	if (!create)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->id = id;
	d->state = DEV_QUEUED;
	d->next = t->devs;
	t->devs = d;
	return d;
}

void devtab_drop(struct devtable *t, int id)
{
	for (struct dev **p = &t->devs; *p; p = &(*p)->next)
		if ((*p)->id == id) {
			struct dev *d = *p;

			*p = d->next;
			free(d);
			return;
		}
}

struct job *devtab_enqueue(struct devtable *t, int devid, enum job_op op, int deferred, int waited)
{
	struct job *j;

	if (!waited)
		for (j = t->jobs; j; j = j->next)
			if (j->devid == devid && j->op == op && !j->waited)
				return j;
	j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->devid = devid;
	j->op = op;
	j->deferred = deferred;
	j->waited = waited;
	if (t->jobs_tail)
		t->jobs_tail->next = j;
	else
		t->jobs = j;
	t->jobs_tail = j;
	return j;
}

struct job *devtab_dequeue(struct devtable *t)
{
	struct job *prev = NULL;

	for (struct job *j = t->jobs; j; prev = j, j = j->next) {
		const struct dev *d = devtab_get(t, j->devid, 0);

		if (d && d->busy)
			continue;
		if (prev)
			prev->next = j->next;
		else
			t->jobs = j->next;
		if (t->jobs_tail == j)
			t->jobs_tail = prev;
		j->next = NULL;
		return j;
	}
	return NULL;
}

static void set_error(struct dev *d, const char *err)
{
	(void)snprintf(d->last_error, sizeof(d->last_error), "%s", err);
}

enum dev_event devtab_account(struct devtable *t, const struct devtab_policy *p,
			      const struct job *j, time_t now, uint32_t rnd, unsigned *wait)
{
	struct dev *d = devtab_get(t, j->devid, 1);
	enum retry_class rc;

	if (!d)
		return DEV_EV_NONE;
	if (j->image[0])
		(void)snprintf(d->image, sizeof(d->image), "%s", j->image);
	d->scanned = 0;
	if (j->have_rot) {
		d->rot_period = j->rot_period;
		d->rot_check = now + p->rotation_check_s;
	}
	switch (j->op) {
	case JOB_ROTATE:
		return j->result < 0 ? DEV_EV_ROTATE_FAILED : DEV_EV_NONE;
	case JOB_CLOSE:
	case JOB_UNMAP:
		if (j->result < 0)
			return DEV_EV_NONE;
		d->state = DEV_CLOSED;
		d->have_ident = 0;
		d->attempts = 0;
		d->last_error[0] = '\0';
		if (j->op == JOB_UNMAP)
			devtab_drop(t, j->devid);
		return DEV_EV_CLOSED;
	case JOB_OPEN:
	case JOB_RESIZE:
		break;
	}
	if (j->result == 0) {
		enum dev_event ev = d->state != DEV_OPEN ? DEV_EV_OPENED : DEV_EV_NONE;

		d->state = DEV_OPEN;
		d->attempts = 0;
		d->last_error[0] = '\0';
		if (j->have_ident) {
			d->ident = j->ident;
			d->have_ident = 1;
			(void)snprintf(d->dm_name, sizeof(d->dm_name), "%s", j->ident.name);
		}
		return ev;
	}
	rc = retry_class(j->result);
	if (rc == RETRY_IGNORE) {
		enum dev_event ev = d->state != DEV_IGNORED ? DEV_EV_IGNORED : DEV_EV_NONE;

		d->state = DEV_IGNORED;
		return ev;
	}
	set_error(d, j->err);
	d->attempts++;
	if (rc == RETRY_AGAIN && (p->retry_limit == 0 || d->attempts < p->retry_limit)) {
		*wait = retry_backoff(d->attempts, p->retry_max_s, rnd);
		d->state = DEV_RETRY;
		d->next_try = now + *wait;
		return DEV_EV_RETRY;
	}
	d->state = DEV_FAILED;
	return DEV_EV_FAILED;
}

static void sooner(long *next, long in)
{
	if (*next < 0 || in < *next)
		*next = in;
}

long devtab_due(struct devtable *t, const struct devtab_policy *p, time_t now)
{
	long next = -1;

	for (struct dev *d = t->devs; d; d = d->next) {
		if (d->state == DEV_RETRY && d->next_try == DEV_RETRY_IN_FLIGHT) {
			continue; /* its job's outcome sets the next try */
		} else if (d->state == DEV_RETRY) {
			if (d->next_try <= now) {
				/* Still "retrying" while the retry runs (operators see why it is
				 * not open, and since when); the job's outcome sets the next try. */
				d->next_try = DEV_RETRY_IN_FLIGHT;
				(void)devtab_enqueue(t, d->id, JOB_OPEN, 0, 0);
			} else {
				sooner(&next, d->next_try - now);
			}
		} else if (d->state == DEV_OPEN && d->rot_period > 0) {
			/* Every check interval, a rotation check for each open volume whose
			 * schedule (read at open and at each check) is on; with every schedule
			 * off nothing is timed. */
			if (d->rot_check <= now) {
				d->rot_check = now + p->rotation_check_s;
				(void)devtab_enqueue(t, d->id, JOB_ROTATE, 0, 0);
			}
			sooner(&next, d->rot_check - now);
		}
	}
	return next;
}

void devtab_count(const struct devtable *t, int n[DEV_NSTATES])
{
	for (int s = 0; s < DEV_NSTATES; s++)
		n[s] = 0;
	for (const struct dev *d = t->devs; d; d = d->next)
		n[d->state]++;
}

int devtab_requeue_failed(struct devtable *t)
{
	int n = 0;

	for (struct dev *d = t->devs; d; d = d->next)
		if (d->state == DEV_FAILED) {
			d->state = DEV_QUEUED;
			d->attempts = 0;
			(void)devtab_enqueue(t, d->id, JOB_OPEN, 0, 0);
			n++;
		}
	return n;
}

void devtab_free(struct devtable *t)
{
	while (t->jobs) {
		struct job *j = t->jobs;

		t->jobs = j->next;
		free(j);
	}
	t->jobs_tail = NULL;
	while (t->devs) {
		struct dev *d = t->devs;

		t->devs = d->next;
		free(d);
	}
}
