/* SPDX-License-Identifier: MIT */
/*
 * Rotation schedules as operators write them (seed 000's keyrotation schedule):
 * "@hourly", "@daily", "@weekly", "@monthly" (30 days), "@yearly" (365 days), "off",
 * and "@every N[smhd]" for other periods. A schedule is an interval since the last
 * rotation, not a calendar time, so nodes need not agree on a clock tick.
 */
#ifndef PVENC_UTIL_SCHEDULE_H
#define PVENC_UTIL_SCHEDULE_H

#include <stdint.h>

#define SCHEDULE_MAX 32

/* 0 with *period_s (0 = off), or -EINVAL. */
int schedule_parse(const char *s, int64_t *period_s);

#endif
