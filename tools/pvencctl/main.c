// SPDX-License-Identifier: MIT
/*
 * pvencctl: the operator's command line for pvenc volumes.
 * Subcommands come from one table, as in wg(8); unknown ones print usage and exit 1.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "control/proto.h"
#include "kms/kms.h"
#include "pvencctl.h"
#include "util/log.h"
#include "util/macro.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
	const char *summary;
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "create", cmd_create, "POOL/[NS/]IMAGE --size SIZE --kms ID",
	  "create an RBD image and make it an encrypted volume" },
	{ "format", cmd_format, "POOL/[NS/]IMAGE --kms ID [--force POOL/[NS/]IMAGE]",
	  "make an existing empty image an encrypted volume" },
	{ "open", cmd_open, "POOL/[NS/]IMAGE[@SNAP] | /dev/rbdN",
	  "open a mapped volume as a decrypted device" },
	{ "close", cmd_close, "POOL/[NS/]IMAGE[@SNAP] | /dev/rbdN [--deferred] | --all [--unmount]",
	  "close the decrypted device and wipe its key" },
	{ "status", cmd_status, "POOL/[NS/]IMAGE[@SNAP] | /dev/rbdN [--json]",
	  "show a volume's encryption state" },
	{ "list", cmd_list, "[--json | --check]",
	  "mapped rbd devices of this node, their state and last error (no Ceph needed)" },
	{ "unmap", cmd_unmap, "POOL/[NS/]IMAGE[@SNAP] | /dev/rbdN | --all [--unmount]",
	  "close the volume, then unmap its rbd device" },
	{ "resize", cmd_resize, "POOL/[NS/]IMAGE | /dev/rbdN",
	  "grow the decrypted device after rbd resize (the agent does it by itself)" },
	{ "delete", cmd_delete, "POOL/[NS/]IMAGE --force POOL/[NS/]IMAGE",
	  "remove an unused image and its KMS-held key (never a shared KEK)" },
	{ "rotate", cmd_rotate, "POOL/[NS/]IMAGE [--dek | --kek]",
	  "rotate a volume's DEK (new keyslot, online) or wrap it under the newest KEK" },
	{ "verify", cmd_verify, "POOL/[NS/]IMAGE[@SNAP] | --all",
	  "check that a volume would open (KMS, DEK, keyslot), activating nothing" },
	{ "header", cmd_header, "backup|restore POOL/[NS/]IMAGE FILE [--dry-run]",
	  "back up a volume's LUKS2 header with its key metadata, or put a backup back" },
	{ "recovery", cmd_recovery, "set|remove POOL/[NS/]IMAGE [--kms ID] [--dry-run]",
	  "give a volume a recovery key under a second KMS entry, or take it away" },
	{ "recover", cmd_recover, "POOL/[NS/]IMAGE | /dev/rbdN [--to-kms ID [--dry-run]]",
	  "open a volume whose DEK is lost with its recovery key, or bind it to a new KMS" },
	{ "migrate", cmd_migrate, "POOL/[NS/]IMAGE | --all-in POOL[/NS] --to-kms ID [--dry-run]",
	  "bind a volume that opens to another KMS entry (a new DEK there; data untouched)" },
	{ "rebind", cmd_rebind, "POOL/[NS/]IMAGE [--from POOL[/NS]]",
	  "bind a volume's stored key to the pool it is in (upgrade, move, copy)" },
	{ "spec", cmd_spec, "POOL/[NS/]IMAGE[@SNAP]", "check an image spec and print its parts" },
	{ "kms", cmd_kms, "list | check|create-key ID [--tenant POOL[/NS]]",
	  "list the KMS entries, check one (connect, authenticate, round-trip a probe key), or "
	  "create its KEK" },
	{ "version", cmd_version, "", "print the version" },
	{ "help", cmd_help, "", "show this help" },
};

static const char common_help[] =
	"Common options:\n"
	"  -c, --config FILE      pvenc.conf (default " PVENC_CONFIG_DEFAULT ")\n"
	"      --ceph-conf FILE   ceph.conf (default: [ceph] conf, CEPH_CONF, "
	"/etc/ceph/ceph.conf)\n"
	"      --id NAME          Ceph client id (default: [ceph] id, admin)\n"
	"      --kms-config FILE  KMS entries (default: [kms] config, /etc/pvenc/kms.json)\n"
	"      --no-agent         do the work here even if pvenc-agent runs\n"
	"  -v, --verbose          log each step to stderr\n"
	"  -h, --help             show this help\n";

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
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
	case -ENOKEY:
		return EXIT_PERM;
	case -ENOMEM:
		return EXIT_NOMEM;
	case -ENODEV:
	case -ENOENT:
	case -ENXIO:
		return EXIT_NODEV;
	case -EBUSY:
	case -EEXIST:
	case -ENOTEMPTY:
		return EXIT_BUSY;
	default:
		return EXIT_FAIL;
	}
}

static void usage(FILE *f)
{
	(void)fprintf(f, "Usage: pvencctl COMMAND [ARGS...]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		(void)fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	(void)fprintf(f,
		      "\nRun 'pvencctl COMMAND --help' for a command's options.\n"
		      "Exit codes: 0 ok, 1 usage, 2 permission or wrong key, 3 out of memory,\n"
		      "4 no such device or image, 5 busy, exists or not empty, 6 other failure.\n");
}

static const struct command *find_cmd(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

void cmd_usage(FILE *f, const char *name, const char *extra)
{
	const struct command *c = find_cmd(name);

	(void)fprintf(f, "Usage: pvencctl %s %s\n\n%s.\n\n%s%s", c->name, c->args, c->summary,
		      extra ? extra : "", common_help);
}

int agent_call(const struct args *a, const struct pvenc_config *cfg, const char *op,
	       const char *target, int deferred, struct json_object **result)
{
	struct json_object *req, *ans = NULL, *v;
	int r;

	if (a->no_agent)
		return 0;
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(op));
	if (target)
		json_object_object_add(req, "target", json_object_new_string(target));
	if (deferred)
		json_object_object_add(req, "deferred", json_object_new_boolean(1));
	r = ctl_call(cfg->agent_socket, req, 300 * 1000, &ans);
	json_object_put(req);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		log_debug("no pvenc-agent on %s: doing the work here", cfg->agent_socket);
		return 0;
	}
	if (r < 0)
		return log_err(r, "pvenc-agent on %s did not answer: %s", cfg->agent_socket,
			       strerror(-r));
	if (json_object_object_get_ex(ans, "ok", &v) && json_object_get_boolean(v)) {
		*result = json_object_get(json_object_object_get_ex(ans, "result", &v) ? v : NULL);
		json_object_put(ans);
		return 1;
	}
	r = json_object_object_get_ex(ans, "code", &v) ? json_object_get_int(v) : -EIO;
	if (r >= 0)
		r = -EIO;
	log_error("%s", json_object_object_get_ex(ans, "error", &v) ? json_object_get_string(v)
								    : "pvenc-agent failed");
	json_object_put(ans);
	return r;
}

int bool_field(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

int report(struct pvenc_ctx *ctx, int r)
{
	if (r < 0)
		log_error("%s", ctx->err[0] ? ctx->err : strerror(-r));
	return errno_to_exit(r);
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	return 0;
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

int main(int argc, char **argv)
{
	const struct command *c;
	struct rlimit no_core = { 0, 0 };

	/* Keys pass through this process: no core dumps, no ptrace by other users. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* A KMS that resets the connection must give an error, not kill us. */
	(void)signal(SIGPIPE, SIG_IGN);
	log_set_ident("pvencctl");
	log_set_max_level(LOG_NOTICE);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(1, argv + 1);
	/* Options may come before the command: move the command name to the front. */
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			/* skip the value of a leading option that takes one */
			if (i + 1 < argc && !strchr(argv[i], '=') &&
			    (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config") ||
			     !strcmp(argv[i], "--ceph-conf") || !strcmp(argv[i], "--id") ||
			     !strcmp(argv[i], "--kms-config")))
				i++;
			continue;
		}
		c = find_cmd(argv[i]);
		if (!c)
			break;
		for (int j = i; j > 1; j--) {
			char *t = argv[j];

			argv[j] = argv[j - 1];
			argv[j - 1] = t;
		}
		{
			int rc = c->fn(argc - 1, argv + 1);

			kms_cleanup();
			return rc;
		}
	}
	(void)fprintf(stderr, "pvencctl: no known command in the arguments\n\n");
	usage(stderr);
	return EXIT_USAGE;
}
