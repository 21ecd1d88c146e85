// SPDX-License-Identifier: MIT
/*
 * Benchmark helper: pvenc's open pipeline without the kernel, per volume: the metadata
 * read (the agent's: image id and metadata straight from RADOS), the KMS unwrap (or
 * fetch) and the key check (the LUKS2 keyslot that the DEK must unlock, checked by
 * libcryptsetup). The header is read from the image's first data object, as krbd
 * reads it for the agent; what this leaves out is the dm table load, which
 * tests/bench/open.bench measures in a guest. Images have the default layout (one
 * object holds the start of the image).
 *   pipeline create --pool P --prefix NAME --count N --kms ID [--jobs J]
 *   pipeline run    --pool P --prefix NAME --count N [--jobs J] [--cold]
 * Images are NAME-0 .. NAME-(N-1). pvenc.conf from -c (default /etc/pvenc/pvenc.conf),
 * the KMS file from --kms-config. run prints one line of key=value pairs: volumes/s
 * and the mean microseconds of each step. --cold drops the parsed kms.json and the KMIP
 * TLS contexts before each volume, as every open did before they were kept: the
 * baseline for what keeping them saves (one worker only).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypt/luks.h"
#include "kms/kmip.h"
#include "kms/kms.h"
#include "store/rbdmeta.h"
#include "util/config.h"
#include "util/log.h"
#include "util/secmem.h"
#include "volume/internal.h"
#include "volume/volume.h"

/* The JSON areas and the first keyslots: what an open reads of the 16 MiB header. */
#define HEADER_READ (1u << 20)

struct bench {
	struct pvenc_config cfg;
	struct cluster *conn;
	const char *pool, *prefix, *kms;
	int count, create, cold;
	atomic_int next, failed;
	_Atomic uint64_t rbd_us, kms_us, read_us, check_us;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The first HEADER_READ bytes of the image, from its first data object. */
static int read_header(const struct img_loc *l, uint8_t *hdr)
{
	char oid[96];
	int n;

	(void)snprintf(oid, sizeof(oid), "rbd_data.%s.%016x", l->id, 0u);
	n = rados_read(l->io, oid, (char *)hdr, HEADER_READ, 0);
	if (n < 0)
		return n;
	memset(hdr + n, 0, HEADER_READ - (size_t)n); /* the rest of a thin object */
	return 0;
}

/* One volume through the pipeline; 0 or negative errno with ctx->err set. */
static int one(struct bench *b, struct pvenc_ctx *ctx, const char *name)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	_cleanup_secmem_ uint8_t *dek = NULL;
	_cleanup_free_ uint8_t *hdr = NULL;
	struct open_opts none = { 0 };
	size_t deklen = 0;
	uint64_t t;
	int r;

	if (b->cold) {
		kms_config_forget();
		kmip_tls_cleanup();
	}
	t = now_us();
	r = vol_target(ctx, name, &v);
	if (r == 0)
		r = vol_need(ctx, &v, VOL_META);
	if (r < 0)
		return r;
	b->rbd_us += now_us() - t;
	t = now_us();
	r = vol_fetch_dek(ctx, &v.head->loc, &v.meta, &none, name, &dek, &deklen, NULL);
	b->kms_us += now_us() - t;
	if (r < 0)
		return r;
	t = now_us();
	hdr = malloc(HEADER_READ);
	r = hdr ? read_header(&v.head->loc, hdr) : -ENOMEM;
	b->read_us += now_us() - t;
	if (r < 0)
		return vol_fail(ctx, r, "%s: header read: %s", name, strerror(-r));
	t = now_us();
	r = luks_check_header(hdr, HEADER_READ, v.meta.uuid, dek, deklen, 0);
	b->check_us += now_us() - t;
	if (r < 0)
		return vol_fail(ctx, r, "%s: the DEK does not unlock its header (%s)", name,
				strerror(-r));
	return 0;
}

static int create(struct pvenc_ctx *ctx, const char *name, const struct format_opts *fo)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	int r = vol_target(ctx, name, &v);

	return r < 0 ? r : volume_create(ctx, &v, LUKS_MIN_IMAGE_SIZE, fo);
}

static void *worker(void *arg)
{
	struct bench *b = arg;
	struct pvenc_ctx ctx;
	struct format_opts fo = { .kms_id = b->kms };
	char name[512];
	int i, r;

	pvenc_ctx_init(&ctx, &b->cfg);
	pvenc_ctx_share(&ctx, b->conn);
	while ((i = atomic_fetch_add(&b->next, 1)) < b->count) {
		(void)snprintf(name, sizeof(name), "%s/%s-%d", b->pool, b->prefix, i);
		ctx.err[0] = '\0';
		r = b->create ? create(&ctx, name, &fo) : one(b, &ctx, name);
		luks_forget_thread_keys();
		if (r < 0) {
			(void)fprintf(stderr, "pipeline: %s: %s\n", name,
				      ctx.err[0] ? ctx.err : strerror(-r));
			b->failed++;
		}
	}
	pvenc_ctx_done(&ctx);
	return NULL;
}

static int number(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || v < 0 || v > 1000000 ? -1 : (int)v;
}

static int usage(void)
{
	(void)fprintf(stderr, "usage: pipeline create|run --pool P --prefix NAME --count N "
			      "[--kms ID] [--jobs J] [--cold] [-c CONF] [--kms-config FILE]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pool", required_argument, NULL, 'p' },
		{ "prefix", required_argument, NULL, 'n' },
		{ "count", required_argument, NULL, 'N' },
		{ "kms", required_argument, NULL, 'k' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "kms-config", required_argument, NULL, 'K' },
		{ "cold", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { 0 };
	struct pvenc_ctx ctx0;
	const char *conf = "/etc/pvenc/pvenc.conf", *kmsconf = NULL;
	pthread_t *th;
	char err[512];
	int c, jobs = 1, r;
	uint64_t t0, el;

	/* A kept KMIP connection the server closed: the write fails, it must not kill us. */
	(void)signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "create"))
		b.create = 1;
	else if (strcmp(argv[1], "run") != 0)
		return usage();
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:j:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			b.pool = optarg;
			break;
		case 'n':
			b.prefix = optarg;
			break;
		case 'N':
			b.count = number(optarg);
			break;
		case 'k':
			b.kms = optarg;
			break;
		case 'j':
			jobs = number(optarg);
			break;
		case 'c':
			conf = optarg;
			break;
		case 'K':
			kmsconf = optarg;
			break;
		case 'C':
			b.cold = 1;
			break;
		default:
			return usage();
		}
	}
	if (!b.pool || !b.prefix || b.count < 1 || jobs < 1 || jobs > 256 || (b.create && !b.kms) ||
	    (b.cold && jobs != 1))
		return usage();
	log_set_ident("pipeline");
	log_set_max_level(LOG_WARNING);
	config_defaults(&b.cfg);
	if (config_load(conf, 0, &b.cfg, err, sizeof(err)) != 0) {
		(void)fprintf(stderr, "pipeline: %s\n", err);
		return 1;
	}
	if (kmsconf)
		(void)snprintf(b.cfg.kms_config, sizeof(b.cfg.kms_config), "%s", kmsconf);
	pvenc_ctx_init(&ctx0, &b.cfg);
	r = pvenc_ctx_connect(&ctx0);
	if (r < 0) {
		(void)fprintf(stderr, "pipeline: %s\n", ctx0.err);
		return 1;
	}
	b.conn = ctx0.conn;
	th = calloc((size_t)jobs, sizeof(*th));
	if (!th)
		return 1;
	t0 = now_us();
	for (int i = 0; i < jobs; i++)
		if (pthread_create(&th[i], NULL, worker, &b) != 0)
			return 1;
	for (int i = 0; i < jobs; i++)
		(void)pthread_join(th[i], NULL);
	el = now_us() - t0;
	free(th);
	pvenc_ctx_done(&ctx0);
	if (b.failed)
		return 1;
	if (!b.create)
		(void)printf("volumes=%d jobs=%d secs=%.3f per_sec=%.1f rbd_us=%" PRIu64
			     " kms_us=%" PRIu64 " read_us=%" PRIu64 " check_us=%" PRIu64 "\n",
			     b.count, jobs, (double)el / 1e6, b.count * 1e6 / (double)el,
			     b.rbd_us / (uint64_t)b.count, b.kms_us / (uint64_t)b.count,
			     b.read_us / (uint64_t)b.count, b.check_us / (uint64_t)b.count);
	return 0;
}
