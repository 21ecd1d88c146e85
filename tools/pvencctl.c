// SPDX-License-Identifier: MIT
/*
 * pvencctl: the operator's command line for pvenc volumes.
 * Subcommands come from one table, as in wg(8); unknown ones print usage and exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/macro.h"
#include "volume/spec.h"

/* Exit codes (documented in Documentation/pvencctl.md): cryptsetup's convention. */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_PERM = 2,
	EXIT_NOMEM = 3,
	EXIT_NODEV = 4,
	EXIT_BUSY = 5,
	EXIT_FAIL = 6,
};

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_spec(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "spec", cmd_spec, "check and print an image spec POOL/[NS/]IMAGE[@SNAP]" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "show this help" },
};

int errno_to_exit(int r);
int errno_to_exit(int r)
{
	switch (r) {
	case 0:
		return EXIT_OK;
	case -EINVAL:
	case -ENAMETOOLONG:
		return EXIT_USAGE;
	case -EPERM:
	case -EACCES:
		return EXIT_PERM;
	case -ENOMEM:
		return EXIT_NOMEM;
	case -ENODEV:
	case -ENOENT:
		return EXIT_NODEV;
	case -EBUSY:
	case -EEXIST:
		return EXIT_BUSY;
	default:
		return EXIT_FAIL;
	}
}

static void usage(FILE *f)
{
	(void)fprintf(f, "Usage: pvencctl COMMAND [ARGS...]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		(void)fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	(void)fprintf(f, "\nRun 'pvencctl COMMAND --help' for a command's options.\n"
			 "Exit codes: 0 ok, 1 usage, 2 permission, 3 out of memory, 4 no such\n"
			 "device or image, 5 busy or exists, 6 other failure.\n");
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	if (wants_help(argc, argv)) {
		(void)printf("Usage: pvencctl version\n\nPrint the pvenc version.\n");
		return EXIT_OK;
	}
	(void)printf("pvencctl %s\n", PVENC_VERSION);
	return EXIT_OK;
}

static int cmd_spec(int argc, char **argv)
{
	struct image_spec spec;
	char buf[4 * (SPEC_NAME_MAX + 1)];
	int r;

	if (wants_help(argc, argv) || argc != 2) {
		(void)fprintf(argc == 2 ? stdout : stderr,
			      "Usage: pvencctl spec POOL/[NS/]IMAGE[@SNAP]\n\n"
			      "Check an image spec and print its parts, one per line.\n");
		return argc == 2 ? EXIT_OK : EXIT_USAGE;
	}
	r = image_spec_parse(argv[1], &spec);
	if (r < 0) {
		log_err(r,
			"invalid image spec '%s': expected POOL/[NAMESPACE/]IMAGE[@SNAP], "
			"parts non-empty, at most %d bytes, without '/', '@', spaces or "
			"control characters",
			argv[1], SPEC_NAME_MAX);
		return errno_to_exit(r);
	}
	r = image_spec_format(&spec, buf, sizeof(buf));
	if (r < 0)
		return errno_to_exit(r);
	(void)printf("spec=%s\npool=%s\nnamespace=%s\nimage=%s\nsnap=%s\n", buf, spec.pool, spec.ns,
		     spec.image, spec.snap);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	log_set_ident("pvencctl");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	(void)fprintf(stderr, "pvencctl: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
