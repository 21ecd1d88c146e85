// SPDX-License-Identifier: MIT
#include "util/crashpoint.h"

#ifdef PVENC_TEST_HOOKS

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void crashpoint(const char *name)
{
	const char *at = getenv("PVENC_CRASH_AT");
	const char *trace = getenv("PVENC_CRASH_TRACE");

	if (trace && trace[0]) {
		/* One line per point passed, so a crash walk tries exactly the steps the
		 * operation has (names only, never data). */
		int fd = open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (fd >= 0) {
			char line[128];
			int n = snprintf(line, sizeof(line), "%s\n", name);

			if (n > 0 && (size_t)n < sizeof(line))
				(void)!write(fd, line, (size_t)n);
			(void)close(fd);
		}
	}
	if (at && !strcmp(at, name))
		(void)kill(getpid(), SIGKILL);
}
#endif
