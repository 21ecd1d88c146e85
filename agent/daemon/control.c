// SPDX-License-Identifier: MIT
/*
 * The agent's control socket (Documentation/agent.md "Control socket"): one thread per
 * client, root only, one JSON request per line. Volume operations go through the
 * agent's queue, one job per device at a time; status answers from the cluster and
 * list from the node (sysfs, device-mapper), each with the agent's own view added.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/proto.h"
#include "daemon/internal.h"
#include "kms/health.h"
#include "util/log.h"
#include "util/macro.h"

#define MAX_CLIENTS	 64
#define CLIENT_TIMEOUT_S 30

static struct json_object *answer_err(int r, const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "code", json_object_new_int(r));
	json_object_object_add(o, "error",
			       json_object_new_string(msg && *msg ? msg : strerror(-r)));
	return o;
}

static struct json_object *answer_ok(struct json_object *result)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result);
	return o;
}

/* What the agent learnt when it opened the volume (what it told pvenc.ko): the list
 * has it without asking Ceph. Fields a status from Ceph already has are left. */
static void add_ident(struct json_object *st, const struct kvol *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(st, "kms", &v) && k->kms[0])
		json_object_object_add(st, "kms", json_object_new_string(k->kms));
	if (!json_object_object_get_ex(st, "dek_version", &v))
		json_object_object_add(st, "dek_version", json_object_new_int64(k->dek_version));
	if (!json_object_object_get_ex(st, "kek_version", &v))
		json_object_object_add(st, "kek_version", json_object_new_int64(k->key_version));
	if (!json_object_object_get_ex(st, "rotated_at", &v))
		json_object_object_add(st, "rotated_at",
				       k->rotated_at ? json_object_new_int64((int64_t)k->rotated_at)
						     : NULL);
	if (!json_object_object_get_ex(st, "opened_at", &v) && k->opened_at)
		json_object_object_add(st, "opened_at",
				       json_object_new_int64((int64_t)k->opened_at));
}

/* Adds the agent's view (state, attempts, last error, since when) to a status object;
 * with @ident, what it learnt at the open too. */
static void add_agent_state(struct agent *a, struct json_object *st, int ident)
{
	struct json_object *v;
	const char *dev;
	struct dev *d;

	if (!json_object_object_get_ex(st, "device", &v) || !v)
		return;
	dev = json_object_get_string(v);
	if (strncmp(dev, "/dev/rbd", 8) != 0)
		return;
	pthread_mutex_lock(&a->lock);
	d = devtab_get(&a->tab, ctl_rbd_index(dev + 5), 0);
	if (d) {
		struct json_object *ag = json_object_new_object();

		json_object_object_add(ag, "state",
				       json_object_new_string(dev_state_name(d->state)));
		json_object_object_add(ag, "attempts", json_object_new_int(d->attempts));
		if (d->last_error[0])
			json_object_object_add(ag, "last_error",
					       json_object_new_string(d->last_error));
		if (d->since)
			json_object_object_add(ag, "since",
					       json_object_new_int64((int64_t)d->since));
		if (d->state == DEV_RETRY)
			json_object_object_add(
				ag, "next_retry_in_s",
				json_object_new_int64(
					d->next_try == DEV_RETRY_IN_FLIGHT
						? 0
						: (int64_t)(d->next_try - agent_mono())));
		json_object_object_add(st, "agent", ag);
		if (ident && d->state == DEV_OPEN && d->have_ident)
			add_ident(st, &d->ident);
	}
	pthread_mutex_unlock(&a->lock);
}

/* The node's view and the agent's: no Ceph, so that it answers during an outage. */
static struct json_object *answer_list(struct agent *a)
{
	struct json_object *o = NULL;
	int r = volume_list(&o);

	if (r < 0)
		return answer_err(r, "cannot list rbd devices");
	for (size_t i = 0; i < json_object_array_length(o); i++)
		add_agent_state(a, json_object_array_get_idx(o, i), 1);
	return answer_ok(o);
}

static struct json_object *answer_health(void)
{
	struct json_object *h = json_object_new_object(), *k = kms_health_json();

	if (!h || !k) {
		json_object_put(h);
		json_object_put(k);
		return answer_err(-ENOMEM, NULL);
	}
	json_object_object_add(h, "kms", k);
	return answer_ok(h);
}

/* Runs a volume operation through the queue and waits for it. */
static struct json_object *queued_op(struct agent *a, struct ctl_request *req, enum job_op op)
{
	struct krbd_dev d = { 0 };
	struct job *j;
	struct json_object *res;
	int r;

	/* Resolve the target to its rbd device (the queue is per device). */
	if (req->target[0] == '/') {
		r = krbd_dev_from_path(req->target, &d);
	} else {
		struct image_spec spec;

		r = image_spec_parse(req->target, &spec);
		if (r == 0)
			r = krbd_dev_find(&spec, &d);
		if (r == -ENOENT) {
			char msg[2 * CTL_TARGET_MAX + 64];

			(void)snprintf(msg, sizeof(msg),
				       "%s is not mapped on this node: run 'rbd map %s' first",
				       req->target, req->target);
			return answer_err(-ENODEV, msg);
		}
	}
	if (r < 0) {
		char msg[CTL_TARGET_MAX + 64];

		(void)snprintf(msg, sizeof(msg), "%s is not a mapped rbd device or valid image",
			       req->target);
		return answer_err(r == -EINVAL ? -EINVAL : -ENODEV, msg);
	}
	pthread_mutex_lock(&a->lock);
	if (a->stopping) {
		pthread_mutex_unlock(&a->lock);
		return answer_err(-ESHUTDOWN, "pvenc-agent is stopping; try again when it runs");
	}
	if (req->op == CTL_OPEN) {
		struct dev *dv = devtab_get(&a->tab, d.id, 1);

		if (dv && dv->state != DEV_OPEN)
			dv->state = DEV_QUEUED;
	}
	j = agent_enqueue(a, d.id, op, req->deferred, 1);
	if (!j) {
		pthread_mutex_unlock(&a->lock);
		return answer_err(-ENOMEM, NULL);
	}
	while (!j->done)
		pthread_cond_wait(&a->done, &a->lock);
	pthread_mutex_unlock(&a->lock);
	if (j->result < 0) {
		res = answer_err(j->result, j->err);
	} else {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "device", json_object_new_string(d.path));
		if (j->dm_path[0])
			json_object_object_add(o, "dm_path", json_object_new_string(j->dm_path));
		json_object_object_add(o, "already", json_object_new_boolean(j->already));
		res = answer_ok(o);
	}
	free(j);
	return res;
}

static struct json_object *handle(struct agent *a, struct ctl_request *req)
{
	struct pvenc_ctx ctx;
	struct json_object *o = NULL;
	int r;

	switch (req->op) {
	case CTL_PING:
		o = json_object_new_object();
		json_object_object_add(o, "version", json_object_new_string(PVENC_VERSION));
		return answer_ok(o);
	case CTL_EVENT:
		if (req->action == CTL_REMOVE) {
			agent_handle_remove(a, req->devid);
		} else {
			pthread_mutex_lock(&a->lock);
			struct dev *d = devtab_get(&a->tab, req->devid, 1);

			if (d && req->action == CTL_ADD && d->state != DEV_OPEN) {
				d->state = DEV_QUEUED;
				d->attempts = 0;
			}
			(void)agent_enqueue(a, req->devid,
					    req->action == CTL_ADD ? JOB_OPEN : JOB_RESIZE, 0, 0);
			pthread_mutex_unlock(&a->lock);
		}
		return answer_ok(json_object_new_string("queued"));
	case CTL_OPEN:
		return queued_op(a, req, JOB_OPEN);
	case CTL_CLOSE:
		return queued_op(a, req, JOB_CLOSE);
	case CTL_UNMAP:
		return queued_op(a, req, JOB_UNMAP);
	case CTL_RESIZE:
		return queued_op(a, req, JOB_RESIZE);
	case CTL_LIST:
		return answer_list(a);
	case CTL_HEALTH:
		return answer_health();
	case CTL_STATUS:
		pthread_mutex_lock(&a->lock); /* a reload may be replacing a->cfg */
		pvenc_ctx_init(&ctx, &a->cfg);
		pthread_mutex_unlock(&a->lock);
		r = cephconn_get(&a->ceph, &ctx);
		if (r == 0) {
			_cleanup_vol_ struct vol v = { .dev.id = -1 };

			r = vol_target(&ctx, req->target, &v);
			if (r == 0)
				r = volume_status(&ctx, &v, &o);
			if (r == 0)
				add_agent_state(a, o, 0);
		}
		if (ctx.conn) {
			cephconn_put(&a->ceph, &ctx, agent_mono());
			/* A worker arms the idle timer. */
			pthread_mutex_lock(&a->lock);
			pthread_cond_broadcast(&a->work);
			pthread_mutex_unlock(&a->lock);
		}
		pvenc_ctx_done(&ctx);
		return r < 0 ? answer_err(r, ctx.err) : answer_ok(o);
	case CTL_ROTATE: /* the parser never yields it */
		break;
	}
	return answer_err(-EINVAL, "unknown op");
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct agent *a = c->a;
	char *buf = malloc(CTL_MAX_LINE + 1);
	size_t len = 0;

	while (buf) {
		ssize_t n = recv(c->fd, buf + len, CTL_MAX_LINE + 1 - len, 0);
		char *nl;

		if (n <= 0)
			break;
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len))) {
			struct ctl_request req;
			struct json_object *ans;
			char err[256];
			size_t linelen = (size_t)(nl - buf);
			const char *text;

			if (ctl_parse_request(buf, linelen, &req, err, sizeof(err)) < 0)
				ans = answer_err(-EINVAL, err);
			else
				ans = handle(a, &req);
			text = json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);
			if (write_all(c->fd, text, strlen(text)) < 0 ||
			    write_all(c->fd, "\n", 1) < 0)
				len = 0, n = -1;
			json_object_put(ans);
			if (n < 0)
				goto out;
			memmove(buf, nl + 1, len - linelen - 1);
			len -= linelen + 1;
		}
		if (len > CTL_MAX_LINE) { /* no newline within the cap */
			struct json_object *ans = answer_err(-EMSGSIZE, "request too long");
			const char *text =
				json_object_to_json_string_ext(ans, JSON_C_TO_STRING_PLAIN);

			(void)write_all(c->fd, text, strlen(text));
			(void)write_all(c->fd, "\n", 1);
			json_object_put(ans);
			break;
		}
	}
out:
	free(buf);
	pthread_mutex_lock(&a->lock);
	(void)close(c->fd);
	c->fd = -1;
	c->done = 1;
	a->clients--;
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

/* Joins client threads that have finished; all of them with @all (after their sockets
 * were shut down, so none waits for its peer). */
void control_reap(struct agent *a, int all)
{
	for (;;) {
		struct client *c = NULL;

		pthread_mutex_lock(&a->lock);
		for (struct client **p = &a->client_list; *p; p = &(*p)->next)
			if ((*p)->done || all) {
				c = *p;
				*p = c->next;
				break;
			}
		pthread_mutex_unlock(&a->lock);
		if (!c)
			return;
		pthread_join(c->thread, NULL);
		free(c);
	}
}

void control_accept(struct agent *a)
{
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct client *c;
	int fd;

	fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* Root only: the socket is 0600, and the peer is checked again here. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warn("event=control-refused uid=%d pid=%d", (int)cred.uid, (int)cred.pid);
		(void)close(fd);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&a->lock);
	if (a->clients >= MAX_CLIENTS) {
		pthread_mutex_unlock(&a->lock);
		(void)close(fd);
		return;
	}
	a->clients++;
	pthread_mutex_unlock(&a->lock);
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->a = a;
	c->fd = fd;
	/* Listed before the thread runs, under the lock it takes to finish. */
	pthread_mutex_lock(&a->lock);
	if (pthread_create(&c->thread, NULL, client_thread, c) != 0) {
		pthread_mutex_unlock(&a->lock);
		free(c);
		goto fail;
	}
	c->next = a->client_list;
	a->client_list = c;
	pthread_mutex_unlock(&a->lock);
	control_reap(a, 0);
	return;
fail:
	(void)close(fd);
	pthread_mutex_lock(&a->lock);
	a->clients--;
	pthread_mutex_unlock(&a->lock);
}

int control_bind(struct agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = a->cfg.agent_socket;
	char dir[sizeof(sa.sun_path)];
	struct json_object *ping, *ans = NULL;
	char *slash;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_err(-ENAMETOOLONG, "socket path %s is too long", path);
	(void)snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return log_err(-errno, "cannot create %s: %m", dir);
	}
	/* Another agent already serving? Then this one must not steal its socket. */
	ping = json_object_new_object();
	json_object_object_add(ping, "op", json_object_new_string("ping"));
	r = ctl_call(path, ping, 1000, &ans);
	json_object_put(ping);
	json_object_put(ans);
	if (r == 0)
		return log_err(-EADDRINUSE, "another pvenc-agent is serving %s", path);
	(void)unlink(path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		r = -errno;
		(void)close(fd);
		return log_err(r, "cannot listen on %s: %s", path, strerror(-r));
	}
	a->listen_fd = fd;
	return 0;
}
