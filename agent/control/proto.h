/* SPDX-License-Identifier: MIT */
/*
 * pvenc-agent's control protocol (Documentation/agent.md): one JSON object per line
 * over the root-only AF_UNIX socket /run/pvenc/control, answered by one JSON line.
 *   {"op":"ping"}
 *   {"op":"event","action":"add"|"change"|"remove","device":"rbd3"}   (udev; queued)
 *   {"op":"open"|"close"|"unmap"|"resize"|"status","target":"POOL/IMAGE|/dev/rbdN"}
 *   {"op":"close","target":...,"deferred":true}
 *   {"op":"list"}
 *   {"op":"health"}
 * Answer: {"ok":true,"result":...} or {"ok":false,"code":-errno,"error":"sentence"}.
 */
#ifndef PVENC_CONTROL_PROTO_H
#define PVENC_CONTROL_PROTO_H

#include <json-c/json.h>
#include <stddef.h>

#define CTL_MAX_LINE   ((size_t)64 * 1024)
#define CTL_TARGET_MAX 1100

enum ctl_op {
	CTL_PING,
	CTL_EVENT,
	CTL_OPEN,
	CTL_CLOSE,
	CTL_UNMAP,
	CTL_RESIZE,
	CTL_STATUS,
	CTL_LIST,
	CTL_HEALTH, /* each KMS entry's health */
	CTL_ROTATE, /* internal: the agent's scheduled rotation; not accepted from clients */
};

enum ctl_action {
	CTL_ADD,
	CTL_CHANGE,
	CTL_REMOVE,
};

struct ctl_request {
	enum ctl_op op;
	enum ctl_action action; /* CTL_EVENT */
	int devid; /* CTL_EVENT: N of rbdN */
	char target[CTL_TARGET_MAX];
	int deferred;
};

/* Parses one request line (without the newline). -EINVAL with @err on bad input. */
int ctl_parse_request(const char *line, size_t len, struct ctl_request *req, char *err,
		      size_t errlen);
const char *ctl_op_name(enum ctl_op op);
/* N of "rbdN" (digits only, N <= 2^20): -EINVAL otherwise. */
int ctl_rbd_index(const char *s);

/* Client side: one request, one answer. The connect and the whole exchange time out
 * after @timeout_ms. Returns 0 with *answer (json), -ECONNREFUSED/-ENOENT when no
 * agent listens, other <0 on errors. */
int ctl_call(const char *socket_path, struct json_object *req, int timeout_ms,
	     struct json_object **answer);

#endif
