// SPDX-License-Identifier: MIT
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int max_level = LOG_INFO;
static const char *ident = "pvenc";

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_ident(const char *id)
{
	ident = id;
}

/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
static int to_journal(void)
{
	return getenv("JOURNAL_STREAM") != NULL;
}

static void log_emit(int level, const char *fmt, va_list ap)
{
	char msg[1024];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_journal())
		(void)fprintf(stderr, "<%d>%s\n", level, msg);
	else
		(void)fprintf(stderr, "%s: %s\n", ident, msg);
}

int log_full(int level, int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level <= max_level) {
		va_start(ap, fmt);
		log_emit(level, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return err;
}
