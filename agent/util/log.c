// SPDX-License-Identifier: MIT
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

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

/* systemd sets JOURNAL_STREAM to stderr's "device:inode" when stderr is the journal;
 * a child whose stderr was redirected elsewhere inherits the variable, so compare. */
static int to_journal(void)
{
	static int cached = -1;
	const char *js;
	char *end;
	struct stat st;
	unsigned long long dev, ino;

	if (cached >= 0)
		return cached;
	cached = 0;
	js = getenv("JOURNAL_STREAM");
	if (!js || fstat(2, &st) < 0)
		return cached;
	errno = 0;
	dev = strtoull(js, &end, 10);
	if (errno || *end != ':')
		return cached;
	ino = strtoull(end + 1, &end, 10);
	if (errno || *end)
		return cached;
	cached = (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	return cached;
}

/* The value of " key=" in a key=value message, up to the next space (values with
 * spaces are quoted and never one of the fields below). */
static int field(const char *msg, const char *key, const char **v, int *len)
{
	size_t kl = strlen(key);

	for (const char *p = msg; (p = strstr(p, key)); p += kl) {
		if ((p != msg && p[-1] != ' ') || p[kl] != '=')
			continue;
		*v = p + kl + 1;
		*len = (int)strcspn(*v, " ");
		return *len > 0;
	}
	return 0;
}

/* MESSAGE_IDs of the volume events an operator filters for (journalctl MESSAGE_ID=). */
static const struct {
	const char *event;
	const char *id;
} message_ids[] = {
	{ "opened", "e3c69e9f13ec406f859dd4c468db8300" },
	{ "open", "e3c69e9f13ec406f859dd4c468db8300" },
	{ "failed", "bbdd1ee7d81a47078ae8016f21c0911d" },
	{ "closed", "386a7f6a19354b66bded481de23edb18" },
	{ "close-deferred", "386a7f6a19354b66bded481de23edb18" },
	{ "rotated", "1df8e53dc56148ac977090c79c6e6894" },
	{ "retry", "fc1e2ebaf11e4fbaa4022d2a49acd26c" },
};

/* Native journal entry: the message plus PVENC_IMAGE=, PVENC_EVENT=, PVENC_DEVICE=,
 * PVENC_DM= and a MESSAGE_ID for the main volume events, so that
 * `journalctl PVENC_IMAGE=rbd/x` shows one volume's history across boots. */
static int journal_emit(int level, const char *msg)
{
	static const char *const keys[][2] = {
		{ "image", "PVENC_IMAGE=" },
		{ "event", "PVENC_EVENT=" },
		{ "device", "PVENC_DEVICE=" },
		{ "dm", "PVENC_DM=" },
	};
	char f[8][300];
	struct iovec iov[8];
	const char *ev = NULL, *v;
	int n = 0, evlen = 0, len;

	(void)snprintf(f[n], sizeof(f[n]), "PRIORITY=%d", level);
	n++;
	(void)snprintf(f[n], sizeof(f[n]), "SYSLOG_IDENTIFIER=%s", ident);
	n++;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (field(msg, keys[i][0], &v, &len)) {
			(void)snprintf(f[n], sizeof(f[n]), "%s%.*s", keys[i][1], len, v);
			n++;
			if (i == 1) {
				ev = v;
				evlen = len;
			}
		}
	for (size_t i = 0; ev && i < sizeof(message_ids) / sizeof(message_ids[0]); i++)
		if ((int)strlen(message_ids[i].event) == evlen &&
		    strncmp(ev, message_ids[i].event, (size_t)evlen) == 0) {
			(void)snprintf(f[n], sizeof(f[n]), "MESSAGE_ID=%s", message_ids[i].id);
			n++;
			break;
		}
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){ .iov_base = f[i], .iov_len = strlen(f[i]) };
	{
		/* MESSAGE= may be longer than the fixed fields. */
		char m[1100];
		struct iovec all[9];

		(void)snprintf(m, sizeof(m), "MESSAGE=%s", msg);
		memcpy(all, iov, (size_t)n * sizeof(iov[0]));
		all[n] = (struct iovec){ .iov_base = m, .iov_len = strlen(m) };
		return sd_journal_sendv(all, n + 1);
	}
}

/* Messages carry text from KMS answers, image metadata and sysfs: control characters
 * become \n, \r or \xNN, so that nothing in them can start a line of its own (a forged
 * "<3>..." line under systemd) or drive a terminal. Tabs and UTF-8 stay. */
void log_escape(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 5 < len; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '\n' || c == '\r') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : 'r';
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static void log_emit(int level, const char *fmt, va_list ap)
{
	char raw[1024], msg[1024];

	(void)vsnprintf(raw, sizeof(raw), fmt, ap);
	log_escape(raw, msg, sizeof(msg));
	if (to_journal()) {
		if (journal_emit(level, msg) >= 0)
			return;
		(void)fprintf(stderr, "<%d>%s\n", level, msg);
	} else {
		(void)fprintf(stderr, "%s: %s\n", ident, msg);
	}
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
