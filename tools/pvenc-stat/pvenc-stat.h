/* SPDX-License-Identifier: MIT */
/* pvenc-stat's pieces: options and the report loop (main.c), collecting the figures
 * (collect.c), the table, rates and JSON (human.c), the Prometheus textfile (prom.c). */
#ifndef PVENC_TOOLS_PVENC_STAT_H
#define PVENC_TOOLS_PVENC_STAT_H

#include <json-c/json.h>
#include <stddef.h>

#include "stats/kmodnl.h"

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
	int quiet; /* -q */
	int megabytes; /* -m: MB/s (1024 * 1024) instead of kB/s (1024), as iostat -m */
	int timestamps; /* -t: the time before each report, as iostat -t */
	double interval;
	long count; /* reports; -1 forever */
};

struct snap {
	struct kvol *v;
	size_t n;
	int kmod; /* figures from pvenc.ko */
	double t; /* monotonic seconds */
	/* The agent's list (every mapped device, its state and last error); NULL when no
	 * agent answered. Fetched without pvenc.ko and for --prometheus. */
	struct json_object *devices;
	struct json_object *health; /* the agent's "health" (--prometheus) */
};

/* The figures of every open volume, and the agent's view of every mapped device. */
int collect(const struct opts *o, const char *socket, struct snap *s);
void snap_free(struct snap *s);
/* POOL/[NS/]IMAGE of a volume, or its dm name when the pool is not known. */
void spec_of(const struct kvol *v, char *buf, size_t len);
/* -v: a dm name, POOL/[NS/]IMAGE or /dev/pvenc/POOL/[NS/]IMAGE. */
int matches(const struct kvol *v, const char *want);

void print_table(const struct snap *s, const struct opts *o);
void print_rates(const struct snap *s, const struct snap *prev, const struct opts *o);
void print_json(const struct snap *s, const struct snap *prev, const struct opts *o);
void print_prometheus(const struct snap *s, const struct opts *o);

#endif
