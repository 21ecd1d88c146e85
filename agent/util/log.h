/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with sd-daemon "<N>" priority prefixes when stderr is the journal,
 * plain "pvenc: " otherwise. Messages are key=value friendly; never pass secrets.
 */
#ifndef PVENC_UTIL_LOG_H
#define PVENC_UTIL_LOG_H

#include <stddef.h>
#include <syslog.h>

void log_set_max_level(int level);
void log_set_ident(const char *ident);
int log_get_max_level(void);
/* Logs and returns @err (a negative errno) so callers can `return log_err(r, ...)`. */
int log_full(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...)	log_full(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)	log_full(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warn(...)	log_full(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)	log_full(LOG_ERR, 0, __VA_ARGS__)
#define log_err(r, ...) log_full(LOG_ERR, (r), __VA_ARGS__)

/* @in with control characters written as \n, \r or \xNN (what every log line gets):
 * for text from KMS answers, metadata or sysfs printed anywhere else. */
void log_escape(const char *in, char *out, size_t len);

#endif
