/* SPDX-License-Identifier: MIT */
/*
 * Without pvenc.ko: the block layer's own counters of pvenc's dm devices, from
 * /sys/block/dm-N/ (Documentation/block/stat.rst). Errors are not counted there.
 */
#ifndef PVENC_STATS_BLOCKSTAT_H
#define PVENC_STATS_BLOCKSTAT_H

#include <stddef.h>
#include <stdint.h>

#include "stats/kmodnl.h"

/* /sys/dev/block/MAJOR:MINOR/stat into s[PVENC_S_*]; PVENC_S_ERRORS stays 0. */
int blockstat_read(unsigned major, unsigned minor, uint64_t s[__PVENC_S_MAX]);
/* Parses the text of a stat file (11, 15 or 17 fields). */
int blockstat_parse(const char *text, uint64_t s[__PVENC_S_MAX]);
/* "MAJOR:MINOR" as sysfs prints it: 0 or -EINVAL. */
int blockstat_parse_dev(const char *s, unsigned *major, unsigned *minor);
/* Every dm device whose name starts with "pvenc-": name, dev and counters (*vols is
 * malloc'd, sorted by name). */
int blockstat_list_pvenc(struct kvol **vols, size_t *n);

#endif
