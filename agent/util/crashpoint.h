/* SPDX-License-Identifier: MIT */
/*
 * Named crash points for tests: when PVENC_CRASH_AT names this point, the process kills
 * itself with SIGKILL right there, as a power cut or OOM kill would. Tests use this to
 * prove every multi-step operation leaves a volume that still opens. With
 * PVENC_CRASH_TRACE=FILE each point passed appends its name to FILE, so a crash walk
 * learns the steps from the code instead of a list kept by hand.
 */
#ifndef PVENC_UTIL_CRASHPOINT_H
#define PVENC_UTIL_CRASHPOINT_H

/* Only in builds for tests (make TEST_HOOKS=1, the default of a source build): the
 * packages build without, so no root program on a node reads these variables. */
#ifdef PVENC_TEST_HOOKS
void crashpoint(const char *name);
#else
static inline void crashpoint(const char *name)
{
	(void)name;
}
#endif

#endif
