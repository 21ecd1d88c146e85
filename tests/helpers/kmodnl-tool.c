// SPDX-License-Identifier: MIT
/*
 * Test helper: drives pvenc.ko's netlink family directly, as the agent would.
 *   kmodnl-tool register NAME MAJOR:MINOR [POOL IMAGE KMS]
 *   kmodnl-tool unregister NAME
 *   kmodnl-tool list            one line per volume: NAME DEV has_stats reads errors
 * Exit 0 on success, else 1 with the errno text (and libnl's) on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "stats/blockstat.h"
#include "stats/kmodnl.h"

static int fail(int r)
{
	(void)fprintf(stderr, "kmodnl-tool: %s (%s)\n", strerror(-r), kmodnl_last_error());
	return 1;
}

int main(int argc, char **argv)
{
	struct kvol v = { 0 }, *vs;
	size_t n;
	int r;

	if (argc >= 4 && strcmp(argv[1], "register") == 0) {
		(void)snprintf(v.name, sizeof(v.name), "%s", argv[2]);
		if (blockstat_parse_dev(argv[3], &v.dev_major, &v.dev_minor) < 0)
			return 2;
		(void)snprintf(v.pool, sizeof(v.pool), "%s", argc > 4 ? argv[4] : "");
		(void)snprintf(v.image, sizeof(v.image), "%s", argc > 5 ? argv[5] : "");
		(void)snprintf(v.kms, sizeof(v.kms), "%s", argc > 6 ? argv[6] : "");
		v.key_version = 1;
		r = kmodnl_register(&v);
		return r < 0 ? fail(r) : 0;
	}
	if (argc == 3 && strcmp(argv[1], "unregister") == 0) {
		r = kmodnl_unregister(argv[2]);
		return r < 0 ? fail(r) : 0;
	}
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		r = kmodnl_list(&vs, &n);
		if (r < 0)
			return fail(r);
		for (size_t i = 0; i < n; i++)
			(void)printf("%s %u:%u %d %" PRIu64 " %" PRIu64 "\n", vs[i].name,
				     vs[i].dev_major, vs[i].dev_minor, vs[i].has_stats,
				     vs[i].stats[PVENC_S_READS], vs[i].stats[PVENC_S_ERRORS]);
		return 0;
	}
	(void)fprintf(stderr, "usage: kmodnl-tool register NAME MAJ:MIN [POOL IMAGE KMS] | "
			      "unregister NAME | list\n");
	return 2;
}
