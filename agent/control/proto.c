// SPDX-License-Identifier: MIT
#include "control/proto.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"

static const char *const op_names[] = {
	[CTL_PING] = "ping",	 [CTL_EVENT] = "event", [CTL_OPEN] = "open",
	[CTL_CLOSE] = "close",	 [CTL_UNMAP] = "unmap", [CTL_RESIZE] = "resize",
	[CTL_STATUS] = "status", [CTL_LIST] = "list",	[CTL_HEALTH] = "health",
};

const char *ctl_op_name(enum ctl_op op)
{
	if (op == CTL_ROTATE) /* the agent's own job, never a request */
		return "rotate";
	return (unsigned)op < ARRAY_SIZE(op_names) ? op_names[op] : "?";
}

int ctl_rbd_index(const char *s)
{
	long n;
	char *end;

	if (strncmp(s, "rbd", 3) != 0 || s[3] < '0' || s[3] > '9')
		return -EINVAL;
	errno = 0;
	n = strtol(s + 3, &end, 10);
	if (errno || *end || n < 0 || n > (1L << 20))
		return -EINVAL;
	return (int)n;
}

static int bad(char *err, size_t len, const char *msg)
{
	(void)snprintf(err, len, "%s", msg);
	return -EINVAL;
}

static const char *str_field(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int ctl_parse_request(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o, *v;
	const char *op, *s;
	int r = -EINVAL;
	size_t i;

	memset(req, 0, sizeof(*req));
	if (len > CTL_MAX_LINE || len > INT_MAX)
		return bad(err, errlen, "request too long");
	tok = json_tokener_new_ex(8); /* requests are flat: refuse deep nesting */
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) != len) {
		r = bad(err, errlen, "request is not one JSON object");
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		r = bad(err, errlen, "request is not a JSON object");
		goto out;
	}
	op = str_field(o, "op");
	if (!op) {
		r = bad(err, errlen, "request has no \"op\"");
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(op_names); i++)
		if (!strcmp(op, op_names[i]))
			break;
	if (i == ARRAY_SIZE(op_names)) {
		r = bad(err, errlen, "unknown \"op\"");
		goto out;
	}
	req->op = (enum ctl_op)i;
	switch (req->op) {
	case CTL_EVENT:
		s = str_field(o, "action");
		if (!s || (strcmp(s, "add") != 0 && strcmp(s, "change") != 0 &&
			   strcmp(s, "remove") != 0)) {
			r = bad(err, errlen, "event needs \"action\": add, change or remove");
			goto out;
		}
		req->action = !strcmp(s, "add")	     ? CTL_ADD
			      : !strcmp(s, "change") ? CTL_CHANGE
						     : CTL_REMOVE;
		s = str_field(o, "device");
		req->devid = s ? ctl_rbd_index(s) : -EINVAL;
		if (req->devid < 0) {
			r = bad(err, errlen, "event needs \"device\": rbdN");
			goto out;
		}
		break;
	case CTL_OPEN:
	case CTL_CLOSE:
	case CTL_UNMAP:
	case CTL_RESIZE:
	case CTL_STATUS:
		s = str_field(o, "target");
		if (!s || !*s || strlen(s) >= sizeof(req->target)) {
			r = bad(err, errlen,
				"request needs \"target\": POOL/[NS/]IMAGE[@SNAP] or /dev/rbdN");
			goto out;
		}
		memcpy(req->target, s, strlen(s) + 1);
		if (json_object_object_get_ex(o, "deferred", &v)) {
			if (!json_object_is_type(v, json_type_boolean)) {
				r = bad(err, errlen, "\"deferred\" must be true or false");
				goto out;
			}
			req->deferred = json_object_get_boolean(v);
		}
		break;
	default:
		break;
	}
	r = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return r;
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int wait_fd(int fd, short ev, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long left = ms_left(deadline);
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

int ctl_call(const char *socket_path, struct json_object *req, int timeout_ms,
	     struct json_object **answer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	char buf[CTL_MAX_LINE + 1];
	struct timespec deadline;
	const char *text;
	size_t len = 0, tlen;
	int r;

	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return -errno;
		r = wait_fd(fd, POLLOUT, &deadline);
		if (r < 0)
			return r;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	tlen = strlen(text);
	if (tlen >= CTL_MAX_LINE)
		return -EMSGSIZE;
	memcpy(buf, text, tlen);
	buf[tlen++] = '\n';
	for (size_t off = 0; off < tlen;) {
		ssize_t w;

		r = wait_fd(fd, POLLOUT, &deadline);
		if (r < 0)
			return r;
		w = send(fd, buf + off, tlen - off, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (w > 0)
			off += (size_t)w;
	}
	for (;;) {
		ssize_t n;
		char *nl;

		r = wait_fd(fd, POLLIN, &deadline);
		if (r < 0)
			return r;
		n = recv(fd, buf + len, CTL_MAX_LINE - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			*answer = json_tokener_parse(buf);
			return *answer ? 0 : -EBADMSG;
		}
		if (len == CTL_MAX_LINE)
			return -EMSGSIZE;
	}
}
