// SPDX-License-Identifier: MIT
/* pvenc-stat's output for people: the table, iostat-like rates (-x) and JSON. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pvenc-stat.h"

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

void print_table(const struct snap *s, const struct opts *o)
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

/* Per-interval figures as iostat -x has them: kB and MB are 1024 and 1024 * 1024 bytes,
 * request sizes in kB, aqu-sz the requests in flight on average over the interval. */
struct rates {
	double rs, ws, rbytes, wbytes, r_await, w_await, aqu, rareq, wareq, util;
};

static void rates_of(const struct kvol *v, const struct kvol *p, double dt, struct rates *x)
{
	double dr = (double)(v->stats[PVENC_S_READS] - p->stats[PVENC_S_READS]);
	double dw = (double)(v->stats[PVENC_S_WRITES] - p->stats[PVENC_S_WRITES]);
	double rb = (double)(v->stats[PVENC_S_READ_BYTES] - p->stats[PVENC_S_READ_BYTES]);
	double wb = (double)(v->stats[PVENC_S_WRITE_BYTES] - p->stats[PVENC_S_WRITE_BYTES]);
	uint64_t io_ns = v->stats[PVENC_S_READ_NS] + v->stats[PVENC_S_WRITE_NS] +
			 v->stats[PVENC_S_DISCARD_NS] + v->stats[PVENC_S_FLUSH_NS];
	uint64_t io_ns0 = p->stats[PVENC_S_READ_NS] + p->stats[PVENC_S_WRITE_NS] +
			  p->stats[PVENC_S_DISCARD_NS] + p->stats[PVENC_S_FLUSH_NS];

	x->rs = dr / dt;
	x->ws = dw / dt;
	x->rbytes = rb / dt;
	x->wbytes = wb / dt;
	x->r_await =
		dr > 0 ? (double)(v->stats[PVENC_S_READ_NS] - p->stats[PVENC_S_READ_NS]) / dr / 1e6
		       : 0;
	x->w_await = dw > 0 ? (double)(v->stats[PVENC_S_WRITE_NS] - p->stats[PVENC_S_WRITE_NS]) /
				      dw / 1e6
			    : 0;
	x->aqu = (double)(io_ns - io_ns0) / (dt * 1e9);
	x->rareq = dr > 0 ? rb / dr / 1024 : 0;
	x->wareq = dw > 0 ? wb / dw / 1024 : 0;
	x->util = (double)(v->stats[PVENC_S_BUSY_MS] - p->stats[PVENC_S_BUSY_MS]) / (dt * 10);
	if (x->util > 100)
		x->util = 100;
}

void print_rates(const struct snap *s, const struct snap *prev, const struct opts *o)
{
	double unit = o->megabytes ? 1024.0 * 1024 : 1024.0;

	(void)printf("%-28s %9s %9s %9s %9s %8s %8s %7s %8s %8s %6s %8s %6s\n", "VOLUME", "r/s",
		     "w/s", o->megabytes ? "rMB/s" : "rkB/s", o->megabytes ? "wMB/s" : "wkB/s",
		     "r_await", "w_await", "aqu-sz", "rareq-sz", "wareq-sz", "%util", "inflight",
		     "errors");
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
		(void)printf("%-28s %9.2f %9.2f %9.2f %9.2f %8.2f %8.2f %7.2f %8.2f %8.2f %6.1f "
			     "%8" PRIu64 " %6s\n",
			     spec, x.rs, x.ws, x.rbytes / unit, x.wbytes / unit, x.r_await,
			     x.w_await, x.aqu, x.rareq, x.wareq, x.util,
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

void print_json(const struct snap *s, const struct snap *prev, const struct opts *o)
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
			jadd(r, "r_bytes_per_s", json_object_new_double(x.rbytes));
			jadd(r, "w_bytes_per_s", json_object_new_double(x.wbytes));
			jadd(r, "r_await_ms", json_object_new_double(x.r_await));
			jadd(r, "w_await_ms", json_object_new_double(x.w_await));
			jadd(r, "aqu_sz", json_object_new_double(x.aqu));
			jadd(r, "rareq_sz_kb", json_object_new_double(x.rareq));
			jadd(r, "wareq_sz_kb", json_object_new_double(x.wareq));
			jadd(r, "util_pct", json_object_new_double(x.util));
			jadd(jv, "rates", r);
		}
		json_object_array_add(arr, jv);
	}
	(void)puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
	json_object_put(arr);
}

/* Prometheus label values escape backslash, quote and newline. */