/* SPDX-License-Identifier: MIT */
/*
 * What the agent does with a failed open: retry it later, give up, or leave the device
 * alone. One table (retry.c) for every errno a volume operation returns; pure, so the
 * unit tests pin it down.
 */
#ifndef PVENC_DAEMON_RETRY_H
#define PVENC_DAEMON_RETRY_H

#include <stdint.h>

enum retry_class {
	RETRY_AGAIN, /* the KMS, the cluster or a file may come back: back off, try again */
	RETRY_FAIL, /* retrying cannot help (wrong key, bad metadata): failed until a map,
		     * an explicit open or a reload */
	RETRY_IGNORE, /* not an encrypted volume: nothing to do */
};

enum retry_class retry_class(int r);

/* Seconds until attempt @attempts + 1: 1, 2, 4, ... capped at @max_s, +-20 % jitter
 * from @rnd so that a fleet does not retry in lockstep; at least 1. */
unsigned retry_backoff(int attempts, int max_s, uint32_t rnd);

#endif
