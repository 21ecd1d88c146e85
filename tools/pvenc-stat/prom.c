// SPDX-License-Identifier: MIT
/* pvenc-stat --prometheus: node_exporter's textfile format. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvenc-stat.h"
#include "util/imagespec.h"

static void label(const char *k, const char *v, int last)
{
	(void)printf("%s=\"", k);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			(void)printf("\\%c", *v);
		else if (*v == '\n')
			(void)printf("\\n");
		else
			(void)putchar(*v);
	}
	(void)printf("\"%s", last ? "" : ",");
}

static void labels(const struct kvol *v)
{
	(void)putchar('{');
	label("volume", v->name, 0);
	label("pool", v->pool, 0);
	label("namespace", v->namespace, 0);
	label("image", v->image, 0);
	label("kms", v->kms, 1);
	(void)putchar('}');
}

struct metric {
	const char *name, *type, *help;
	double scale;
	int idx; /* PVENC_S_*, or -1 for io seconds */
	int kmod_only;
};

static const struct metric metrics[] = {
	{ "pvenc_reads_total", "counter", "Read requests completed.", 1, PVENC_S_READS, 0 },
	{ "pvenc_writes_total", "counter", "Write requests completed.", 1, PVENC_S_WRITES, 0 },
	{ "pvenc_read_bytes_total", "counter", "Bytes read, i.e. decrypted.", 1, PVENC_S_READ_BYTES,
	  0 },
	{ "pvenc_write_bytes_total", "counter", "Bytes written, i.e. encrypted.", 1,
	  PVENC_S_WRITE_BYTES, 0 },
	{ "pvenc_discards_total", "counter", "Discard requests completed.", 1, PVENC_S_DISCARDS,
	  0 },
	{ "pvenc_discard_bytes_total", "counter", "Bytes discarded.", 1, PVENC_S_DISCARD_BYTES, 0 },
	{ "pvenc_flushes_total", "counter", "Flush requests completed.", 1, PVENC_S_FLUSHES, 0 },
	{ "pvenc_in_flight", "gauge", "Requests in flight.", 1, PVENC_S_IN_FLIGHT, 0 },
	{ "pvenc_errors_total", "counter", "Requests completed with an error (since registration).",
	  1, PVENC_S_ERRORS, 1 },
	{ "pvenc_read_seconds_total", "counter", "Time spent in reads.", 1e-9, PVENC_S_READ_NS, 0 },
	{ "pvenc_write_seconds_total", "counter", "Time spent in writes.", 1e-9, PVENC_S_WRITE_NS,
	  0 },
	{ "pvenc_io_seconds_total", "counter", "Time spent in all requests.", 1e-9, -1, 0 },
	{ "pvenc_busy_seconds_total", "counter", "Time the device had requests in flight.", 1e-3,
	  PVENC_S_BUSY_MS, 0 },
};

/* What the agent told pvenc.ko (or, without it, its list says), one gauge each. */
static uint64_t get_key_version(const struct kvol *v)
{
	return v->key_version;
}

static uint64_t get_dek_version(const struct kvol *v)
{
	return v->dek_version;
}

static uint64_t get_rotated_at(const struct kvol *v)
{
	return v->rotated_at;
}

static uint64_t get_opened_at(const struct kvol *v)
{
	return v->opened_at;
}

static const struct {
	const char *name, *help;
	uint64_t (*get)(const struct kvol *v);
} gauges[] = {
	{ "pvenc_kek_version",
	  "Version of the KMS key (KEK) that wraps the volume's DEK (1 for KMS-held DEKs).",
	  get_key_version },
	{ "pvenc_dek_version", "Generation of the volume's DEK, +1 per DEK rotation.",
	  get_dek_version },
	{ "pvenc_dek_rotated_timestamp_seconds",
	  "Last DEK rotation; no sample for a volume whose DEK was never rotated.",
	  get_rotated_at },
	{ "pvenc_opened_timestamp_seconds", "When the volume was opened.", get_opened_at },
};

/* Reasons are the agent's error sentences: one label value, bounded. */
#define REASON_MAX 240

static const char *jstr_or(struct json_object *o, const char *k, const char *dflt)
{
	struct json_object *x;

	return json_object_object_get_ex(o, k, &x) && json_object_is_type(x, json_type_string)
		       ? json_object_get_string(x)
		       : dflt;
}

/* pvenc_agent_up, and one pvenc_volume_state sample per mapped rbd device with the
 * agent's state and last error: alert on state="retrying" or "failed". */
static int64_t jint_or(struct json_object *o, const char *k, int64_t dflt)
{
	struct json_object *x;

	return json_object_object_get_ex(o, k, &x) && json_object_is_type(x, json_type_int)
		       ? json_object_get_int64(x)
		       : dflt;
}

/* One KMS gauge: a sample per entry whose @key is not @skip. */
static void kms_gauge(struct json_object *arr, const char *name, const char *help, const char *key,
		      int64_t skip)
{
	(void)printf("# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		int64_t v = jint_or(o, key, skip);

		if (v == skip)
			continue;
		(void)printf("%s{", name);
		label("kms", jstr_or(o, "kms", ""), 1);
		(void)printf("} %" PRId64 "\n", v);
	}
}

/* Each KMS entry the agent used since it started: when it last worked and failed, its
 * token's time-to-live, and pvenc_kms_up (the last operation worked) with the reason. */
static void print_kms(const struct snap *s)
{
	struct json_object *arr;

	if (!s->health || !json_object_object_get_ex(s->health, "kms", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return;
	(void)printf("# HELP pvenc_kms_up 1 if the agent's last operation on the KMS entry "
		     "worked, 0 if it failed (reason: its error).\n# TYPE pvenc_kms_up gauge\n");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		int64_t ok = jint_or(o, "last_success", 0), fail = jint_or(o, "last_failure", 0);
		char reason[REASON_MAX + 1] = "";

		if (fail > ok)
			(void)snprintf(reason, sizeof(reason), "%s", jstr_or(o, "last_error", ""));
		(void)printf("pvenc_kms_up{");
		label("kms", jstr_or(o, "kms", ""), 0);
		label("reason", reason, 1);
		(void)printf("} %d\n", fail <= ok);
	}
	kms_gauge(arr, "pvenc_kms_last_success_timestamp_seconds",
		  "Last KMS operation of the agent on the entry that worked.", "last_success", 0);
	kms_gauge(arr, "pvenc_kms_last_failure_timestamp_seconds",
		  "Last KMS operation of the agent on the entry that failed.", "last_failure", 0);
	kms_gauge(arr, "pvenc_kms_token_ttl_seconds",
		  "Seconds the entry's Vault token has left (renewed by the agent at 2/3 of its "
		  "TTL); no sample for tokens that do not expire.",
		  "token_ttl_s", -1);
}

static void print_states(const struct snap *s)
{
	(void)printf("# HELP pvenc_agent_up 1 if pvenc-agent answered on its control socket.\n"
		     "# TYPE pvenc_agent_up gauge\npvenc_agent_up %d\n",
		     s->devices != NULL);
	if (!s->devices)
		return;
	(void)printf("# HELP pvenc_volume_state The agent's state of each mapped rbd device "
		     "(opening, open, retrying, failed, ignored, closed), with its last error "
		     "as the reason.\n# TYPE pvenc_volume_state gauge\n");
	for (size_t i = 0; i < json_object_array_length(s->devices); i++) {
		struct json_object *o = json_object_array_get_idx(s->devices, i), *ag = NULL;
		struct image_spec spec = { 0 };
		char reason[REASON_MAX + 1];
		const char *img = jstr_or(o, "image", "");

		if (!json_object_object_get_ex(o, "agent", &ag) ||
		    !json_object_is_type(ag, json_type_object))
			continue;
		if (image_spec_parse(img, &spec) < 0)
			continue;
		(void)snprintf(reason, sizeof(reason), "%s", jstr_or(ag, "last_error", ""));
		(void)printf("pvenc_volume_state{");
		label("device", jstr_or(o, "device", ""), 0);
		label("pool", spec.pool, 0);
		label("namespace", spec.ns, 0);
		label("image", spec.image, 0);
		label("state", jstr_or(ag, "state", ""), 0);
		label("reason", reason, 1);
		(void)printf("} 1\n");
	}
}

void print_prometheus(const struct snap *s, const struct opts *o)
{
	(void)printf("# HELP pvenc_kmod_loaded 1 if the figures come from pvenc.ko, 0 if from "
		     "/sys/block (no error counts).\n# TYPE pvenc_kmod_loaded gauge\n"
		     "pvenc_kmod_loaded %d\n",
		     s->kmod);
	(void)printf("# HELP pvenc_volume_info Identity of an open pvenc volume.\n"
		     "# TYPE pvenc_volume_info gauge\n");
	for (size_t i = 0; i < s->n; i++) {
		const struct kvol *v = &s->v[i];
		char dev[24], kb[16], ss[16];

		if (!matches(v, o->volume))
			continue;
		(void)snprintf(dev, sizeof(dev), "%u:%u", v->dev_major, v->dev_minor);
		(void)snprintf(kb, sizeof(kb), "%" PRIu32, v->key_bits);
		(void)snprintf(ss, sizeof(ss), "%" PRIu32, v->sector_size);
		(void)printf("pvenc_volume_info{");
		label("volume", v->name, 0);
		label("pool", v->pool, 0);
		label("namespace", v->namespace, 0);
		label("image", v->image, 0);
		label("kms", v->kms, 0);
		label("image_id", v->image_id, 0);
		label("dev", dev, 0);
		label("cipher", v->cipher, 0);
		label("key_bits", kb, 0);
		label("sector_size", ss, 1);
		(void)printf("} 1\n");
	}
	print_states(s);
	print_kms(s);
	for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
		(void)printf("# HELP %s %s\n# TYPE %s gauge\n", gauges[g].name, gauges[g].help,
			     gauges[g].name);
		for (size_t i = 0; i < s->n; i++)
			/* 0 is "not known": no sample rather than 1970. */
			if (matches(&s->v[i], o->volume) && gauges[g].get(&s->v[i])) {
				(void)printf("%s", gauges[g].name);
				labels(&s->v[i]);
				(void)printf(" %" PRIu64 "\n", gauges[g].get(&s->v[i]));
			}
	}
	for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
		const struct metric *mt = &metrics[m];

		if (mt->kmod_only && !s->kmod)
			continue;
		(void)printf("# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help, mt->name,
			     mt->type);
		for (size_t i = 0; i < s->n; i++) {
			const struct kvol *v = &s->v[i];
			double x;

			if (!matches(v, o->volume) || !v->has_stats)
				continue;
			if (mt->idx < 0)
				x = (double)(v->stats[PVENC_S_READ_NS] +
					     v->stats[PVENC_S_WRITE_NS] +
					     v->stats[PVENC_S_DISCARD_NS] +
					     v->stats[PVENC_S_FLUSH_NS]);
			else
				x = (double)v->stats[mt->idx];
			(void)printf("%s", mt->name);
			labels(v);
			if (mt->scale == 1)
				(void)printf(" %.0f\n", x);
			else
				(void)printf(" %.9g\n", x * mt->scale);
		}
	}
}
