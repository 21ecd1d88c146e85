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

#include "pvenc-stat.h"
#include "util/config.h"

/* ---- main ---- */

static void usage(FILE *f)
{
	(void)fprintf(
		f,
		"Usage: pvenc-stat [OPTIONS] [INTERVAL [COUNT]]\n"
		"Per-volume encryption statistics of open pvenc volumes.\n\n"
		"  -x               rates per interval as iostat -x: r/s, w/s, rkB/s, "
		"wkB/s,\n"
		"                   r_await, w_await, aqu-sz, rareq-sz, wareq-sz, %%util\n"
		"  -m               -x in MB/s (1 MB = 1024 kB, 1 kB = 1024 bytes, as iostat)\n"
		"  -t               the time before each report (ISO 8601, as iostat -t with\n"
		"                   S_TIME_FORMAT=ISO)\n"
		"  -v VOLUME        only VOLUME (POOL/[NS/]IMAGE, /dev/pvenc/... or dm "
		"name)\n"
		"      --json       JSON (one array per report)\n"
		"      --prometheus node_exporter textfile format\n"
		"  -q, --quiet      do not say on stderr that pvenc.ko is not loaded (for\n"
		"                   cron; --prometheus exports it as pvenc_kmod_loaded)\n"
		"  -c FILE          pvenc.conf (for the agent socket; default %s)\n"
		"  -h, --help       this help\n\n"
		"INTERVAL seconds between reports; COUNT reports (default: forever with an "
		"interval, else one).\n"
		"Without pvenc.ko the figures come from /sys/block/dm-N/stat (no error "
		"counts).\n",
		PVENC_CONFIG_DEFAULT);
}

/* [INTERVAL [COUNT]] after the options. */
static int parse_interval(int argc, char **argv, struct opts *o)
{
	char *end;

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
	return 0;
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
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->count = 1;
	while ((c = getopt_long(argc, argv, "xmtqv:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'x':
			o->rates = 1;
			break;
		case 'v':
			o->volume = optarg;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'm':
			o->megabytes = 1;
			break;
		case 't':
			o->timestamps = 1;
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
	if (parse_interval(argc, argv, o) < 0)
		return -EINVAL;
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
	/* JSON and Prometheus carry no free text: -t is for the table and -x. */
	if (o->timestamps && o->out == OUT_TABLE) {
		char when[40];
		time_t t = time(NULL);
		struct tm tm;

		if (localtime_r(&t, &tm) &&
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm))
			(void)printf("%s\n", when);
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
	if (!cur.kmod && !o.quiet)
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
			snap_free(&cur);
			sleep_s(o.interval);
			r = collect(&o, cfg.agent_socket, &cur);
		}
		if (r == 0)
			r = report(&cur, o.rates ? &prev : NULL, &o);
		if (o.rates)
			snap_free(&prev);
		if (r < 0)
			break;
	}
	snap_free(&cur);
	return r < 0 ? 1 : 0;
}
