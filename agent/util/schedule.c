// SPDX-License-Identifier: MIT
#include "util/schedule.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int schedule_parse(const char *s, int64_t *period_s)
{
	static const struct {
		const char *name;
		int64_t period;
	} named[] = {
		{ "off", 0 },
		{ "@hourly", 3600 },
		{ "@daily", 86400 },
		{ "@weekly", 7LL * 86400 },
		{ "@monthly", 30LL * 86400 },
		{ "@yearly", 365LL * 86400 },
	};
	const char *p;
	char *end;
	long long n;
	int64_t unit;

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(s, named[i].name)) {
			*period_s = named[i].period;
			return 0;
		}
	if (strncmp(s, "@every ", 7) != 0)
		return -EINVAL;
	p = s + 7;
	if (*p < '1' || *p > '9')
		return -EINVAL;
	errno = 0;
	n = strtoll(p, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0')
		return -EINVAL;
	switch (end[0]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return -EINVAL;
	}
	/* Ten years at most; a typo should not overflow into "never". */
	if (n > 3650LL * 86400 / unit)
		return -EINVAL;
	*period_s = n * unit;
	return 0;
}
