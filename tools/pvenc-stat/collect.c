// SPDX-License-Identifier: MIT
/* pvenc-stat's figures: pvenc.ko over generic netlink, else /sys/block and the agent. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/proto.h"
#include "pvenc-stat.h"
#include "stats/blockstat.h"
#include "util/imagespec.h"

static double now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The result of the agent's answer to @op when it is of @type; NULL when no agent
 * answers. "list": every mapped rbd device, its state and last error, and for the
 * volumes it opened what it learnt then; "health": each KMS entry's. */
static struct json_object *agent_op(const char *socket, const char *op, enum json_type type)
{
	struct json_object *req = json_object_new_object(), *ans = NULL, *res, *out = NULL;

	if (!req)
		return NULL;
	json_object_object_add(req, "op", json_object_new_string(op));
	if (ctl_call(socket, req, 5000, &ans) == 0 &&
	    json_object_object_get_ex(ans, "result", &res) && json_object_is_type(res, type))
		out = json_object_get(res);
	json_object_put(req);
	json_object_put(ans);
	return out;
}

static void copy_str(struct json_object *o, const char *k, char *buf, size_t len)
{
	struct json_object *x;

	if (json_object_object_get_ex(o, k, &x) && json_object_is_type(x, json_type_string))
		(void)snprintf(buf, len, "%s", json_object_get_string(x));
}

/* Fallback identity: the agent's list names the image, KMS and cipher of each dm
 * device it opened. Without an agent the dm name is all there is. */
static void add_agent_identity(struct json_object *list, struct kvol *v, size_t n)
{
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		struct json_object *o = json_object_array_get_idx(list, i), *x;
		struct image_spec spec;
		const char *dm, *img;

		if (!json_object_object_get_ex(o, "dm_name", &x) ||
		    !(dm = json_object_get_string(x)) ||
		    !json_object_object_get_ex(o, "image", &x) ||
		    !(img = json_object_get_string(x)) || image_spec_parse(img, &spec) < 0)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(v[k].name, dm) != 0)
				continue;
			(void)snprintf(v[k].pool, sizeof(v[k].pool), "%s", spec.pool);
			(void)snprintf(v[k].namespace, sizeof(v[k].namespace), "%s", spec.ns);
			(void)snprintf(v[k].image, sizeof(v[k].image), "%s", spec.image);
			copy_str(o, "image_id", v[k].image_id, sizeof(v[k].image_id));
			copy_str(o, "kms", v[k].kms, sizeof(v[k].kms));
			copy_str(o, "cipher", v[k].cipher, sizeof(v[k].cipher));
			if (json_object_object_get_ex(o, "key_bits", &x))
				v[k].key_bits = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "sector_size", &x))
				v[k].sector_size = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "kek_version", &x))
				v[k].key_version = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "dek_version", &x))
				v[k].dek_version = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "rotated_at", &x) && x)
				v[k].rotated_at = (uint64_t)json_object_get_int64(x);
			if (json_object_object_get_ex(o, "opened_at", &x) && x)
				v[k].opened_at = (uint64_t)json_object_get_int64(x);
		}
	}
}

int collect(const struct opts *o, const char *socket, struct snap *s)
{
	int r = kmodnl_list(&s->v, &s->n);

	s->t = now();
	s->kmod = r == 0;
	/* The agent's view: names without pvenc.ko, and the states Prometheus exports. */
	if (!s->kmod || o->out == OUT_PROMETHEUS)
		s->devices = agent_op(socket, "list", json_type_array);
	if (s->devices && o->out == OUT_PROMETHEUS)
		s->health = agent_op(socket, "health", json_type_object);
	if (r == -ENOENT || r == -EPROTO) {
		r = blockstat_list_pvenc(&s->v, &s->n);
		if (r == 0)
			add_agent_identity(s->devices, s->v, s->n);
	}
	if (r < 0) {
		(void)fprintf(stderr, "pvenc-stat: cannot read volume statistics: %s%s%s%s\n",
			      strerror(-r), s->kmod || !kmodnl_last_error()[0] ? "" : " (netlink: ",
			      s->kmod ? "" : kmodnl_last_error(),
			      s->kmod || !kmodnl_last_error()[0] ? "" : ")");
		return r;
	}
	return 0;
}

void snap_free(struct snap *s)
{
	free(s->v);
	json_object_put(s->devices);
	json_object_put(s->health);
	*s = (struct snap){ 0 };
}

void spec_of(const struct kvol *v, char *buf, size_t len)
{
	if (!v->pool[0])
		(void)snprintf(buf, len, "%s", v->name);
	else if (v->namespace[0])
		(void)snprintf(buf, len, "%s/%s/%s", v->pool, v->namespace, v->image);
	else
		(void)snprintf(buf, len, "%s/%s", v->pool, v->image);
}

/* -v: a dm name, POOL/[NS/]IMAGE or /dev/pvenc/POOL/[NS/]IMAGE. */
int matches(const struct kvol *v, const char *want)
{
	char spec[4 * (PVENC_TEXT_MAX + 1)];

	if (!want)
		return 1;
	if (strncmp(want, "/dev/pvenc/", 11) == 0)
		want += 11;
	spec_of(v, spec, sizeof(spec));
	return strcmp(v->name, want) == 0 || strcmp(spec, want) == 0;
}
