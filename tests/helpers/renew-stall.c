// SPDX-License-Identifier: MIT
/*
 * Test helper (host 45): does one Vault's slow token renewal hold up the KMS calls of
 * the other entries? Entry A's renewable short-TTL token gives the agent's renewer
 * something to renew; once the renewal is due and under way (the test server delays
 * auth/token/renew-self), entry B wraps a key. Prints B's seconds.
 *   renew-stall KMS_JSON A B WAIT_S
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kms/kms.h"
#include "util/secmem.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wrap_once(const char *conf, const char *id)
{
	struct kms_binding b = { .volume_id = "00000000-0000-4000-8000-000000000000" };
	struct kms *k = NULL;
	uint8_t dek[32] = { 1 };
	char *wrapped = NULL, err[512];
	int r = kms_open(conf, id, NULL, NULL, &k, err, sizeof(err));

	if (r < 0) {
		(void)fprintf(stderr, "%s: %s\n", id, err);
		return r;
	}
	r = kms_wrap(k, &b, dek, sizeof(dek), &wrapped);
	if (r < 0)
		(void)fprintf(stderr, "%s: %s\n", id, k->error);
	free(wrapped);
	kms_free(k);
	return r;
}

int main(int argc, char **argv)
{
	double t;

	if (argc != 5) {
		(void)fprintf(stderr, "usage: renew-stall KMS_JSON A B WAIT_S\n");
		return 2;
	}
	kms_agent_mode();
	if (wrap_once(argv[1], argv[2]) < 0)
		return 1;
	(void)sleep((unsigned)strtoul(argv[4], NULL, 10));
	t = now();
	if (wrap_once(argv[1], argv[3]) < 0)
		return 1;
	(void)printf("%.1f\n", now() - t);
	(void)fflush(stdout);
	_exit(0); /* the renewer may still sit in its delayed request */
}
