// SPDX-License-Identifier: MIT
/*
 * pvenc-stat: per-volume encryption statistics (Documentation/pvenc-stat.md).
 *
 *   pvenc-stat [-v VOLUME] [--json | --prometheus] [-x] [INTERVAL [COUNT]]
 *
 * Figures come from pvenc.ko over generic netlink (the same values as
 * /sys/kernel/pvenc/volumes/); without the module, from /sys/block/dm-N/stat and the
 * agent's list of volumes, which one line on stderr says.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/proto.h"
#include "stats/blockstat.h"
#include "stats/kmodnl.h"
#include "util/config.h"
#include "util/imagespec.h"

enum output {
	OUT_TABLE,
	OUT_JSON,
	OUT_PROMETHEUS
};

struct opts {
	const char *config;
	const char *volume;
	enum output out;
	int rates; /* -x */
	double interval;
	long count; /* reports; -1 forever */
};

struct snap {
	struct kvol *v;
	size_t n;
	int kmod; /* figures from pvenc.ko */
	double t; /* monotonic seconds */
};

static double now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- collecting ---- */

/* Fallback identity: the agent's list names the image, KMS and cipher of each dm
 * device it opened. Without an agent the dm name is all there is. */
static void add_agent_identity(const char *socket, struct kvol *v, size_t n)
{
	struct json_object *req = json_object_new_object(), *ans = NULL, *res, *o, *x;

	if (!req)
		return;
	json_object_object_add(req, "op", json_object_new_string("list"));
	if (ctl_call(socket, req, 5000, &ans) < 0 ||
	    !json_object_object_get_ex(ans, "result", &res) ||
	    !json_object_is_type(res, json_type_array))
		goto out;
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		struct image_spec spec;
		const char *dm, *img;

		o = json_object_array_get_idx(res, i);
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
			if (json_object_object_get_ex(o, "image_id", &x))
				(void)snprintf(v[k].image_id, sizeof(v[k].image_id), "%s",
					       json_object_get_string(x));
			if (json_object_object_get_ex(o, "kms", &x))
				(void)snprintf(v[k].kms, sizeof(v[k].kms), "%s",
					       json_object_get_string(x));
			if (json_object_object_get_ex(o, "cipher", &x))
				(void)snprintf(v[k].cipher, sizeof(v[k].cipher), "%s",
					       json_object_get_string(x));
			if (json_object_object_get_ex(o, "key_bits", &x))
				v[k].key_bits = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "sector_size", &x))
				v[k].sector_size = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "dek_version", &x))
				v[k].dek_version = (uint32_t)json_object_get_int(x);
			if (json_object_object_get_ex(o, "rotated_at", &x) && x)
				v[k].rotated_at = (uint64_t)json_object_get_int64(x);
		}
	}
out:
	json_object_put(req);
	json_object_put(ans);
}

static int collect(const struct opts *o, const char *socket, struct snap *s)
{
	int r = kmodnl_list(&s->v, &s->n);

	s->t = now();
	s->kmod = r == 0;
	if (r == -ENOENT || r == -EPROTO) {
		r = blockstat_list_pvenc(&s->v, &s->n);
		if (r == 0)
			add_agent_identity(socket, s->v, s->n);
	}
	if (r < 0) {
		(void)fprintf(stderr, "pvenc-stat: cannot read volume statistics: %s%s%s%s\n",
			      strerror(-r), s->kmod || !kmodnl_last_error()[0] ? "" : " (netlink: ",
			      s->kmod ? "" : kmodnl_last_error(),
			      s->kmod || !kmodnl_last_error()[0] ? "" : ")");
		return r;
	}
	(void)o;
	return 0;
}

static void spec_of(const struct kvol *v, char *buf, size_t len)
{
	if (!v->pool[0])
		(void)snprintf(buf, len, "%s", v->name);
	else if (v->namespace[0])
		(void)snprintf(buf, len, "%s/%s/%s", v->pool, v->namespace, v->image);
	else
		(void)snprintf(buf, len, "%s/%s", v->pool, v->image);
}

/* -v: a dm name, POOL/[NS/]IMAGE or /dev/pvenc/POOL/[NS/]IMAGE. */
static int matches(const struct kvol *v, const char *want)
{
	char spec[4 * (PVENC_TEXT_MAX + 1)];

	if (!want)
		return 1;
	if (strncmp(want, "/dev/pvenc/", 11) == 0)
		want += 11;
	spec_of(v, spec, sizeof(spec));
	return strcmp(v->name, want) == 0 || strcmp(spec, want) == 0;
}

/* ---- output ---- */

static uint64_t ms(const struct kvol *v, int idx)
{
	return v->stats[idx] / 1000000U;
}

static uint64_t io_ms(const struct kvol *v)
{
	return (v->stats[PVENC_S_READ_NS] + v->stats[PVENC_S_WRITE_NS] +
		v->stats[PVENC_S_DISCARD_NS] + v->stats[PVENC_S_FLUSH_NS]) /
	       1000000U;
}

static void human(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double x = (double)b;
	int u = 0;

	while (x >= 1024 && u < 5) {
		x /= 1024;
		u++;
	}
	(void)snprintf(buf, len, u ? "%.1f%s" : "%.0f%s", x, unit[u]);
}

static void print_table(const struct snap *s, const struct opts *o)
{
	(void)printf("%-28s %-8s %-12s %-4s %-4s %10s %10s %9s %9s %8s %6s\n", "VOLUME", "DEVICE",
		     "KMS", "KEK", "DEK", "READ", "WRITTEN", "READS", "WRITES", "INFLIGHT",
		     "ERRORS");
	for (size_t i = 0; i < s->n; i++) {
		const struct kvol *v = &s->v[i];
		char spec[4 * (PVENC_TEXT_MAX + 1)], dev[24], rd[16], wr[16], key[16], dk[16],
			err[24];

		if (!matches(v, o->volume))
			continue;
		spec_of(v, spec, sizeof(spec));
		(void)snprintf(dev, sizeof(dev), "%u:%u", v->dev_major, v->dev_minor);
		(void)snprintf(key, sizeof(key), s->kmod ? "v%" PRIu32 : "-", v->key_version);
		(void)snprintf(dk, sizeof(dk), v->dek_version ? "%" PRIu32 : "-", v->dek_version);
		if (!v->has_stats) {
			(void)printf("%-28s %-8s %-12s %-4s %-4s %10s\n", spec, dev,
				     v->kms[0] ? v->kms : "-", key, dk, "(device gone)");
			continue;
		}
		human(v->stats[PVENC_S_READ_BYTES], rd, sizeof(rd));
		human(v->stats[PVENC_S_WRITE_BYTES], wr, sizeof(wr));
		(void)snprintf(err, sizeof(err), s->kmod ? "%" PRIu64 : "-",
			       v->stats[PVENC_S_ERRORS]);
		(void)printf("%-28s %-8s %-12s %-4s %-4s %10s %10s %9" PRIu64 " %9" PRIu64
			     " %8" PRIu64 " %6s\n",
			     spec, dev, v->kms[0] ? v->kms : "-", key, dk, rd, wr,
			     v->stats[PVENC_S_READS], v->stats[PVENC_S_WRITES],
			     v->stats[PVENC_S_IN_FLIGHT], err);
	}
}

static const struct kvol *find_prev(const struct snap *prev, const struct kvol *v)
{
	for (size_t i = 0; prev && i < prev->n; i++)
		if (strcmp(prev->v[i].name, v->name) == 0 && prev->v[i].dev_major == v->dev_major &&
		    prev->v[i].dev_minor == v->dev_minor && prev->v[i].has_stats)
			return &prev->v[i];
	return NULL;
}

struct rates {
	double rs, ws, rmbs, wmbs, r_await, w_await, util;
};

static void rates_of(const struct kvol *v, const struct kvol *p, double dt, struct rates *x)
{
	double dr = (double)(v->stats[PVENC_S_READS] - p->stats[PVENC_S_READS]);
	double dw = (double)(v->stats[PVENC_S_WRITES] - p->stats[PVENC_S_WRITES]);

	x->rs = dr / dt;
	x->ws = dw / dt;
	x->rmbs = (double)(v->stats[PVENC_S_READ_BYTES] - p->stats[PVENC_S_READ_BYTES]) / dt / 1e6;
	x->wmbs =
		(double)(v->stats[PVENC_S_WRITE_BYTES] - p->stats[PVENC_S_WRITE_BYTES]) / dt / 1e6;
	x->r_await =
		dr > 0 ? (double)(v->stats[PVENC_S_READ_NS] - p->stats[PVENC_S_READ_NS]) / dr / 1e6
		       : 0;
	x->w_await = dw > 0 ? (double)(v->stats[PVENC_S_WRITE_NS] - p->stats[PVENC_S_WRITE_NS]) /
				      dw / 1e6
			    : 0;
	x->util = (double)(v->stats[PVENC_S_BUSY_MS] - p->stats[PVENC_S_BUSY_MS]) / (dt * 10);
	if (x->util > 100)
		x->util = 100;
}

static void print_rates(const struct snap *s, const struct snap *prev, const struct opts *o)
{
	(void)printf("%-28s %9s %9s %9s %9s %8s %8s %6s %8s %6s\n", "VOLUME", "r/s", "w/s", "rMB/s",
		     "wMB/s", "r_await", "w_await", "%util", "inflight", "errors");
	for (size_t i = 0; i < s->n; i++) {
		const struct kvol *v = &s->v[i], *p = find_prev(prev, v);
		char spec[4 * (PVENC_TEXT_MAX + 1)], err[24];
		struct rates x;

		if (!matches(v, o->volume) || !v->has_stats || !p)
			continue;
		spec_of(v, spec, sizeof(spec));
		rates_of(v, p, s->t - prev->t, &x);
		(void)snprintf(err, sizeof(err), s->kmod ? "%" PRIu64 : "-",
			       v->stats[PVENC_S_ERRORS] - p->stats[PVENC_S_ERRORS]);
		(void)printf("%-28s %9.2f %9.2f %9.2f %9.2f %8.2f %8.2f %6.1f %8" PRIu64 " %6s\n",
			     spec, x.rs, x.ws, x.rmbs, x.wmbs, x.r_await, x.w_await, x.util,
			     v->stats[PVENC_S_IN_FLIGHT], err);
	}
	(void)printf("\n");
}

static void jadd(struct json_object *o, const char *k, struct json_object *v)
{
	json_object_object_add(o, k, v);
}

static struct json_object *json_volume(const struct snap *s, const struct kvol *v)
{
	struct json_object *o = json_object_new_object(), *st;
	char dev[24];

	(void)snprintf(dev, sizeof(dev), "%u:%u", v->dev_major, v->dev_minor);
	jadd(o, "name", json_object_new_string(v->name));
	jadd(o, "dev", json_object_new_string(dev));
	jadd(o, "pool", json_object_new_string(v->pool));
	jadd(o, "namespace", json_object_new_string(v->namespace));
	jadd(o, "image", json_object_new_string(v->image));
	jadd(o, "image_id", json_object_new_string(v->image_id));
	jadd(o, "cipher", json_object_new_string(v->cipher));
	jadd(o, "key_bits", json_object_new_int64(v->key_bits));
	jadd(o, "sector_size", json_object_new_int64(v->sector_size));
	jadd(o, "kms", json_object_new_string(v->kms));
	jadd(o, "key_version", s->kmod ? json_object_new_int64(v->key_version) : NULL);
	jadd(o, "opened_at", s->kmod ? json_object_new_int64((int64_t)v->opened_at) : NULL);
	jadd(o, "dek_version", v->dek_version ? json_object_new_int64(v->dek_version) : NULL);
	jadd(o, "rotated_at", v->rotated_at ? json_object_new_int64((int64_t)v->rotated_at) : NULL);
	jadd(o, "source", json_object_new_string(s->kmod ? "pvenc.ko" : "block-layer"));
	if (!v->has_stats) {
		jadd(o, "stats", NULL);
		return o;
	}
	st = json_object_new_object();
	jadd(st, "reads", json_object_new_uint64(v->stats[PVENC_S_READS]));
	jadd(st, "writes", json_object_new_uint64(v->stats[PVENC_S_WRITES]));
	jadd(st, "read_bytes", json_object_new_uint64(v->stats[PVENC_S_READ_BYTES]));
	jadd(st, "write_bytes", json_object_new_uint64(v->stats[PVENC_S_WRITE_BYTES]));
	jadd(st, "discards", json_object_new_uint64(v->stats[PVENC_S_DISCARDS]));
	jadd(st, "discard_bytes", json_object_new_uint64(v->stats[PVENC_S_DISCARD_BYTES]));
	jadd(st, "flushes", json_object_new_uint64(v->stats[PVENC_S_FLUSHES]));
	jadd(st, "in_flight", json_object_new_uint64(v->stats[PVENC_S_IN_FLIGHT]));
	jadd(st, "errors", s->kmod ? json_object_new_uint64(v->stats[PVENC_S_ERRORS]) : NULL);
	jadd(st, "read_ms", json_object_new_uint64(ms(v, PVENC_S_READ_NS)));
	jadd(st, "write_ms", json_object_new_uint64(ms(v, PVENC_S_WRITE_NS)));
	jadd(st, "discard_ms", json_object_new_uint64(ms(v, PVENC_S_DISCARD_NS)));
	jadd(st, "flush_ms", json_object_new_uint64(ms(v, PVENC_S_FLUSH_NS)));
	jadd(st, "io_ms", json_object_new_uint64(io_ms(v)));
	jadd(st, "busy_ms", json_object_new_uint64(v->stats[PVENC_S_BUSY_MS]));
	jadd(o, "stats", st);
	return o;
}

static void print_json(const struct snap *s, const struct snap *prev, const struct opts *o)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < s->n; i++) {
		const struct kvol *v = &s->v[i], *p = prev ? find_prev(prev, v) : NULL;
		struct json_object *jv;

		if (!matches(v, o->volume) || (o->rates && !p))
			continue;
		jv = json_volume(s, v);
		if (p && v->has_stats) {
			struct json_object *r = json_object_new_object();
			struct rates x;

			rates_of(v, p, s->t - prev->t, &x);
			jadd(r, "interval_s", json_object_new_double(s->t - prev->t));
			jadd(r, "r_per_s", json_object_new_double(x.rs));
			jadd(r, "w_per_s", json_object_new_double(x.ws));
			jadd(r, "r_mb_per_s", json_object_new_double(x.rmbs));
			jadd(r, "w_mb_per_s", json_object_new_double(x.wmbs));
			jadd(r, "r_await_ms", json_object_new_double(x.r_await));
			jadd(r, "w_await_ms", json_object_new_double(x.w_await));
			jadd(r, "util_pct", json_object_new_double(x.util));
			jadd(jv, "rates", r);
		}
		json_object_array_add(arr, jv);
	}
	(void)puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
}

/* Prometheus label values escape backslash, quote and newline. */
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

/* What the agent told pvenc.ko, one gauge each (pvenc.ko only). */
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
	{ "pvenc_key_version", "Version of the key the volume's DEK is wrapped with.",
	  get_key_version },
	{ "pvenc_dek_version", "DEK generation, +1 per DEK rotation.", get_dek_version },
	{ "pvenc_last_rotation_timestamp_seconds", "Last DEK rotation (0: never).",
	  get_rotated_at },
	{ "pvenc_opened_timestamp_seconds", "When the volume was opened.", get_opened_at },
};

static void print_prometheus(const struct snap *s, const struct opts *o)
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
	for (size_t g = 0; s->kmod && g < sizeof(gauges) / sizeof(gauges[0]); g++) {
		(void)printf("# HELP %s %s\n# TYPE %s gauge\n", gauges[g].name, gauges[g].help,
			     gauges[g].name);
		for (size_t i = 0; i < s->n; i++)
			if (matches(&s->v[i], o->volume)) {
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

/* ---- main ---- */

static void usage(FILE *f)
{
	(void)fprintf(f,
		      "Usage: pvenc-stat [OPTIONS] [INTERVAL [COUNT]]\n"
		      "Per-volume encryption statistics of open pvenc volumes.\n\n"
		      "  -x               rates per interval (r/s, w/s, rMB/s, wMB/s, await), "
		      "like iostat -x\n"
		      "  -v VOLUME        only VOLUME (POOL/[NS/]IMAGE, /dev/pvenc/... or dm "
		      "name)\n"
		      "      --json       JSON (one array per report)\n"
		      "      --prometheus node_exporter textfile format\n"
		      "  -c FILE          pvenc.conf (for the agent socket; default %s)\n"
		      "  -h, --help       this help\n\n"
		      "INTERVAL seconds between reports; COUNT reports (default: forever with an "
		      "interval, else one).\n"
		      "Without pvenc.ko the figures come from /sys/block/dm-N/stat (no error "
		      "counts).\n",
		      PVENC_CONFIG_DEFAULT);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		OPT_JSON = 256,
		OPT_PROM
	};
	static const struct option lo[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "prometheus", no_argument, NULL, OPT_PROM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	o->count = 1;
	while ((c = getopt_long(argc, argv, "xv:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'x':
			o->rates = 1;
			break;
		case 'v':
			o->volume = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case OPT_JSON:
			o->out = OUT_JSON;
			break;
		case OPT_PROM:
			o->out = OUT_PROMETHEUS;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		o->interval = strtod(argv[optind], &end);
		if (*end || o->interval <= 0 || o->interval > 86400) {
			(void)fprintf(stderr, "pvenc-stat: bad interval '%s'\n", argv[optind]);
			return -EINVAL;
		}
		o->count = -1;
		optind++;
	}
	if (optind < argc) {
		o->count = strtol(argv[optind], &end, 10);
		if (*end || o->count <= 0) {
			(void)fprintf(stderr, "pvenc-stat: bad count '%s'\n", argv[optind]);
			return -EINVAL;
		}
		optind++;
	}
	if (optind < argc) {
		(void)fprintf(stderr, "pvenc-stat: too many arguments\n");
		return -EINVAL;
	}
	if (o->rates && o->interval == 0) {
		(void)fprintf(stderr,
			      "pvenc-stat: -x needs an INTERVAL (e.g. pvenc-stat -x 1 5)\n");
		return -EINVAL;
	}
	if (o->rates && o->out == OUT_PROMETHEUS) {
		(void)fprintf(stderr, "pvenc-stat: --prometheus prints counters; rates are "
				      "computed by Prometheus\n");
		return -EINVAL;
	}
	return 0;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int report(const struct snap *s, const struct snap *prev, const struct opts *o)
{
	int found = !o->volume;

	for (size_t i = 0; i < s->n && !found; i++)
		found = matches(&s->v[i], o->volume);
	if (!found) {
		(void)fprintf(stderr, "pvenc-stat: no open pvenc volume '%s'\n", o->volume);
		return -ENOENT;
	}
	if (o->out == OUT_JSON)
		print_json(s, prev, o);
	else if (o->out == OUT_PROMETHEUS)
		print_prometheus(s, o);
	else if (o->rates)
		print_rates(s, prev, o);
	else
		print_table(s, o);
	(void)fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct pvenc_config cfg;
	struct snap prev = { 0 }, cur = { 0 };
	char err[512];
	int r;

	if (parse_opts(argc, argv, &o) < 0)
		return 1;
	config_defaults(&cfg);
	if (config_load(o.config ? o.config : PVENC_CONFIG_DEFAULT, o.config != NULL, &cfg, err,
			sizeof(err)) < 0) {
		(void)fprintf(stderr, "pvenc-stat: %s\n", err);
		return 1;
	}
	r = collect(&o, cfg.agent_socket, &cur);
	if (r < 0)
		return 1;
	if (!cur.kmod)
		(void)fprintf(stderr,
			      "pvenc-stat: pvenc.ko is not loaded: figures from "
			      "/sys/block/dm-N/stat and pvenc-agent, without error counts\n");
	for (long i = 0; o.count < 0 || i < o.count; i++) {
		if (o.rates) {
			/* Each report covers the interval before it. */
			prev = cur;
			cur = (struct snap){ 0 };
			sleep_s(o.interval);
			r = collect(&o, cfg.agent_socket, &cur);
		} else if (i > 0) {
			free(cur.v);
			cur = (struct snap){ 0 };
			sleep_s(o.interval);
			r = collect(&o, cfg.agent_socket, &cur);
		}
		if (r == 0)
			r = report(&cur, o.rates ? &prev : NULL, &o);
		if (o.rates)
			free(prev.v);
		if (r < 0)
			break;
	}
	free(cur.v);
	return r < 0 ? 1 : 0;
}
