// SPDX-License-Identifier: MIT
#include "stats/blockstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

int blockstat_parse(const char *text, uint64_t s[__PVENC_S_MAX])
{
	/* read ios, merges, sectors, ms; write ...; in_flight, io_ticks, time_in_queue;
	 * discard ios, merges, sectors, ms; flush ios, ms */
	unsigned long long f[17] = { 0 };
	const char *p = text;
	char *end;
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '\n')
			break;
		if (n == 17 || !isdigit((unsigned char)*p))
			return -EBADMSG;
		errno = 0;
		f[n++] = strtoull(p, &end, 10);
		if (errno)
			return -EBADMSG;
		p = end;
	}
	if (n != 11 && n != 15 && n != 17)
		return -EBADMSG;
	memset(s, 0, sizeof(uint64_t) * __PVENC_S_MAX);
	s[PVENC_S_READS] = f[0];
	s[PVENC_S_READ_BYTES] = f[2] * 512;
	s[PVENC_S_READ_NS] = f[3] * 1000000ULL;
	s[PVENC_S_WRITES] = f[4];
	s[PVENC_S_WRITE_BYTES] = f[6] * 512;
	s[PVENC_S_WRITE_NS] = f[7] * 1000000ULL;
	s[PVENC_S_IN_FLIGHT] = f[8];
	s[PVENC_S_BUSY_MS] = f[9];
	s[PVENC_S_DISCARDS] = f[11];
	s[PVENC_S_DISCARD_BYTES] = f[13] * 512;
	s[PVENC_S_DISCARD_NS] = f[14] * 1000000ULL;
	s[PVENC_S_FLUSHES] = f[15];
	s[PVENC_S_FLUSH_NS] = f[16] * 1000000ULL;
	return 0;
}

int blockstat_read(unsigned major, unsigned minor, uint64_t s[__PVENC_S_MAX])
{
	char path[64], buf[512];
	int r;

	(void)snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat", major, minor);
	r = read_line(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	return blockstat_parse(buf, s);
}

int blockstat_parse_dev(const char *s, unsigned *major, unsigned *minor)
{
	unsigned long ma, mi;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	ma = strtoul(s, &end, 10);
	if (errno || *end != ':' || !isdigit((unsigned char)end[1]) || ma > 0xfff)
		return -EINVAL;
	mi = strtoul(end + 1, &end, 10);
	if (errno || (*end && *end != '\n') || mi > 0xfffff)
		return -EINVAL;
	*major = (unsigned)ma;
	*minor = (unsigned)mi;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct kvol *)a)->name, ((const struct kvol *)b)->name);
}

int blockstat_list_pvenc(struct kvol **vols, size_t *n)
{
	DIR *dir = opendir("/sys/block");
	struct kvol *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	int r = 0;

	*vols = NULL;
	*n = 0;
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		char path[300], name[PVENC_NAME_MAX + 1], dev[32];
		unsigned ma, mi;

		if (strncmp(de->d_name, "dm-", 3) != 0)
			continue;
		(void)snprintf(path, sizeof(path), "/sys/block/%s/dm/name", de->d_name);
		if (read_line(path, name, sizeof(name)) < 0 || strncmp(name, "pvenc-", 6) != 0)
			continue;
		(void)snprintf(path, sizeof(path), "/sys/block/%s/dev", de->d_name);
		if (read_line(path, dev, sizeof(dev)) < 0 || blockstat_parse_dev(dev, &ma, &mi) < 0)
			continue;
		if (cnt == cap) {
			struct kvol *nv;

			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		(void)snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", name);
		v[cnt].dev_major = ma;
		v[cnt].dev_minor = mi;
		v[cnt].has_stats = blockstat_read(ma, mi, v[cnt].stats) == 0;
		cnt++;
	}
	(void)closedir(dir);
	if (r < 0) {
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), by_name);
	*vols = v;
	*n = cnt;
	return 0;
}
