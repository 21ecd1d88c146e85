// SPDX-License-Identifier: MIT
/*
 * pvencctl: the operator's command line for pvenc volumes.
 * Subcommands come from one table, as in wg(8); unknown ones print usage and exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "control/proto.h"
#include "kms/kms.h"
#include "util/config.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/imagespec.h"
#include "volume/volume.h"

/* Exit codes (Documentation/pvencctl.md): cryptsetup's convention, plus 6. */
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
	const char *args;
	const char *summary;
};

static int cmd_create(int argc, char **argv);
static int cmd_format(int argc, char **argv);
static int cmd_open(int argc, char **argv);
static int cmd_close(int argc, char **argv);
static int cmd_status(int argc, char **argv);
static int cmd_list(int argc, char **argv);
static int cmd_unmap(int argc, char **argv);
static int cmd_resize(int argc, char **argv);
static int cmd_spec(int argc, char **argv);
static int cmd_kms(int argc, char **argv);
static int cmd_delete(int argc, char **argv);
static int cmd_rotate(int argc, char **argv);
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
	{ "list", cmd_list, "[--json]", "list mapped rbd devices on this node and their state" },
	{ "unmap", cmd_unmap, "POOL/[NS/]IMAGE[@SNAP] | /dev/rbdN | --all [--unmount]",
	  "close the volume, then unmap its rbd device" },
	{ "resize", cmd_resize, "POOL/[NS/]IMAGE | /dev/rbdN",
	  "grow the decrypted device after rbd resize (the agent does it by itself)" },
	{ "delete", cmd_delete, "POOL/[NS/]IMAGE --force POOL/[NS/]IMAGE",
	  "remove an unused image and its KMS-held key (never a shared KEK)" },
	{ "rotate", cmd_rotate, "POOL/[NS/]IMAGE [--dek | --kek]",
	  "rotate a volume's DEK (new keyslot, online) or wrap it under the newest KEK" },
	{ "spec", cmd_spec, "POOL/[NS/]IMAGE[@SNAP]", "check an image spec and print its parts" },
	{ "kms", cmd_kms, "check|create-key ID [--tenant POOL[/NS]]",
	  "check a KMS entry (connect, authenticate, round-trip a probe key), or create its KEK" },
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

static int errno_to_exit(int r)
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

static void cmd_usage(FILE *f, const char *name, const char *extra)
{
	const struct command *c = find_cmd(name);

	(void)fprintf(f, "Usage: pvencctl %s %s\n\n%s.\n\n%s%s", c->name, c->args, c->summary,
		      extra ? extra : "", common_help);
}

struct args {
	const char *config, *ceph_conf, *id, *kms_config;
	const char *size, *kms, *force, *csi_volume_id, *tenant;
	int verbose, help, no_agent, deferred, json, dek, kek, if_due, all, unmount;
	const char *pos[2];
	int npos;
	unsigned allowed; /* the command-specific options (O_*) this command takes */
};

/* The command-specific options, as bits of a command's PREPARE list. */
enum {
	O_SIZE = 1 << 0,
	O_KMS = 1 << 1,
	O_FORCE = 1 << 2,
	O_DEFERRED = 1 << 3,
	O_JSON = 1 << 4,
	O_CSI_VOLUME_ID = 1 << 5,
	O_TENANT = 1 << 6,
	O_DEK = 1 << 7,
	O_KEK = 1 << 8,
	O_IF_DUE = 1 << 9,
	O_ALL = 1 << 10,
	O_UNMOUNT = 1 << 11,
};

/* Every option once: its name, its short form, whether it takes a value (a string
 * field of struct args) or not (an int flag), and its O_* bit (0: every command). */
struct opt_def {
	const char *name;
	char short_name;
	int value;
	size_t off;
	unsigned bit;
};
#define OPT(n, s, val, field, b)                           \
	{                                                  \
		n, s, val, offsetof(struct args, field), b \
	}
static const struct opt_def opt_defs[] = {
	OPT("config", 'c', 1, config, 0),
	OPT("ceph-conf", 0, 1, ceph_conf, 0),
	OPT("id", 0, 1, id, 0),
	OPT("kms-config", 0, 1, kms_config, 0),
	OPT("verbose", 'v', 0, verbose, 0),
	OPT("help", 'h', 0, help, 0),
	OPT("no-agent", 0, 0, no_agent, 0),
	OPT("size", 0, 1, size, O_SIZE),
	OPT("kms", 0, 1, kms, O_KMS),
	OPT("force", 0, 1, force, O_FORCE),
	OPT("deferred", 0, 0, deferred, O_DEFERRED),
	OPT("json", 0, 0, json, O_JSON),
	OPT("csi-volume-id", 0, 1, csi_volume_id, O_CSI_VOLUME_ID),
	OPT("tenant", 0, 1, tenant, O_TENANT),
	OPT("dek", 0, 0, dek, O_DEK),
	OPT("kek", 0, 0, kek, O_KEK),
	OPT("if-due", 0, 0, if_due, O_IF_DUE),
	OPT("all", 0, 0, all, O_ALL),
	OPT("unmount", 0, 0, unmount, O_UNMOUNT),
};
#undef OPT
/* getopt's value for a long-only option: this past the index in opt_defs. */
#define OPT_KEY_BASE 0x100

static int parse_args(const char *cmd, int argc, char **argv, struct args *a)
{
	struct option longs[ARRAY_SIZE(opt_defs) + 1] = { { 0 } };
	char shorts[2 * ARRAY_SIZE(opt_defs) + 1] = "", *sp = shorts;
	int c;

	for (size_t k = 0; k < ARRAY_SIZE(opt_defs); k++) {
		const struct opt_def *d = &opt_defs[k];

		longs[k] =
			(struct option){ d->name, d->value ? required_argument : no_argument, NULL,
					 d->short_name ? d->short_name : OPT_KEY_BASE + (int)k };
		if (d->short_name) {
			*sp++ = d->short_name;
			if (d->value)
				*sp++ = ':';
		}
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		const struct opt_def *d = NULL;

		for (size_t k = 0; k < ARRAY_SIZE(opt_defs) && !d; k++)
			if (c == longs[k].val)
				d = &opt_defs[k];
		if (!d) {
			(void)fprintf(stderr, "pvencctl %s: unknown or incomplete option '%s'\n",
				      cmd, argv[optind - 1]);
			return -EINVAL;
		}
		if (d->bit && !(a->allowed & d->bit)) {
			(void)fprintf(stderr, "pvencctl %s: option --%s does not apply here\n", cmd,
				      d->name);
			return -EINVAL;
		}
		if (d->value)
			*(const char **)(void *)((char *)a + d->off) = optarg;
		else
			*(int *)(void *)((char *)a + d->off) = 1;
	}
	if (a->verbose)
		log_set_max_level(LOG_DEBUG);
	for (int i = optind; i < argc; i++) {
		if (a->npos == 2) {
			(void)fprintf(stderr, "pvencctl %s: too many arguments\n", cmd);
			return -EINVAL;
		}
		a->pos[a->npos++] = argv[i];
	}
	return 0;
}

static int load_config(const struct args *a, struct pvenc_config *cfg)
{
	char err[512];
	const char *path = a->config ? a->config : PVENC_CONFIG_DEFAULT;
	int r = config_load(path, a->config != NULL, cfg, err, sizeof(err));

	if (r < 0)
		return log_err(r, "%s", err);
	if (a->ceph_conf)
		(void)snprintf(cfg->ceph_conf, sizeof(cfg->ceph_conf), "%s", a->ceph_conf);
	if (a->id)
		(void)snprintf(cfg->ceph_id, sizeof(cfg->ceph_id), "%s", a->id);
	if (a->kms_config)
		(void)snprintf(cfg->kms_config, sizeof(cfg->kms_config), "%s", a->kms_config);
	return 0;
}

/* Sizes as rbd takes them: a plain number is MiB; B, K, M, G, T suffixes (binary). */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 20;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'B':
	case 'b':
		shift = 0;
		end++;
		break;
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	case 'T':
	case 't':
		shift = 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/*
 * When pvenc-agent runs, volume operations go through it (one place holds KMS sessions
 * and serialises work per device). Returns 1 with *result when the agent answered OK,
 * <0 (message printed) when it answered an error, 0 when no agent listens.
 */
static int agent_call(const struct args *a, const struct pvenc_config *cfg, const char *op,
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

static int bool_field(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

static int report(struct pvenc_ctx *ctx, int r)
{
	if (r < 0)
		log_error("%s", ctx->err[0] ? ctx->err : strerror(-r));
	return errno_to_exit(r);
}

#define PREPARE(cmdname, allowed_opts, npos_min, npos_max, extra_help) \
	struct args a = { .allowed = (allowed_opts) };                 \
	struct pvenc_config cfg;                                       \
	struct pvenc_ctx ctx;                                          \
	int r;                                                         \
	if (parse_args(cmdname, argc, argv, &a) < 0)                   \
		return EXIT_USAGE;                                     \
	if (a.help) {                                                  \
		cmd_usage(stdout, cmdname, extra_help);                \
		return EXIT_OK;                                        \
	}                                                              \
	if (a.npos < (npos_min) || a.npos > (npos_max)) {              \
		cmd_usage(stderr, cmdname, extra_help);                \
		return EXIT_USAGE;                                     \
	}                                                              \
	if (load_config(&a, &cfg) < 0)                                 \
		return EXIT_USAGE;                                     \
	pvenc_ctx_init(&ctx, &cfg)

static const char create_help[] =
	"Options:\n"
	"      --size SIZE        image size; a plain number is MiB (as rbd), or use\n"
	"                         K, M, G, T suffixes; at least 17 MiB (16 MiB LUKS2 header)\n"
	"      --kms ID           KMS entry that wraps the volume's DEK\n\n";

static int cmd_create(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct format_opts fo = { 0 };
	uint64_t size;

	PREPARE("create", O_SIZE | O_KMS, 1, 1, create_help);
	if (!a.size || !a.kms || parse_size(a.size, &size) < 0) {
		log_error("create needs --size SIZE (e.g. 10G) and --kms ID");
		return EXIT_USAGE;
	}
	fo.kms_id = a.kms;
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_create(&ctx, &v, size, &fo);
	if (r == 0)
		(void)printf("created %s (encrypted, KMS %s)\n", a.pos[0], a.kms);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static const char format_help[] =
	"Formats only images without data: any filesystem, partition table or other\n"
	"signature, or non-zero bytes in the first MiB, make it refuse. An interrupted\n"
	"format is resumed with the DEK already stored; a formatted volume is never\n"
	"formatted again.\n\n"
	"Options:\n"
	"      --kms ID           KMS entry that wraps the volume's DEK\n"
	"      --force IMAGE      overwrite existing data; IMAGE must repeat the image\n\n";

static int cmd_format(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct format_opts fo = { 0 };

	PREPARE("format", O_KMS | O_FORCE, 1, 1, format_help);
	fo.kms_id = a.kms;
	fo.force = a.force;
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_format(&ctx, &v, &fo);
	if (r == 0)
		(void)printf("formatted %s\n", a.pos[0]);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static const char open_help[] =
	"The image must be mapped (rbd map). Opening an open volume changes nothing.\n"
	"Snapshots open read-only. Prints the decrypted device.\n\n"
	"Options (volumes created by ceph-csi only):\n"
	"      --kms ID             KMS entry (default: from ceph-csi's journal)\n"
	"      --csi-volume-id ID   CSI volume handle (default: derived from\n"
	"                           [ceph-csi] cluster-id, the pool id and the image name)\n\n";

static int cmd_open(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct open_opts oo = { 0 };
	struct open_result res;

	PREPARE("open", O_KMS | O_CSI_VOLUME_ID, 1, 1, open_help);
	oo.kms_id = a.kms;
	oo.csi_volume_id = a.csi_volume_id;
	if (!a.kms && !a.csi_volume_id) {
		struct json_object *o = NULL;

		r = agent_call(&a, &cfg, "open", a.pos[0], 0, &o);
		if (r > 0) {
			(void)printf("%s%s\n", jstr(o, "dm_path"),
				     bool_field(o, "already") ? " (already open)" : "");
			json_object_put(o);
			return EXIT_OK;
		}
		if (r < 0)
			return errno_to_exit(r);
	}
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_open(&ctx, &v, &oo, &res);
	if (r == 0)
		(void)printf("%s%s\n", res.dm_path, res.already ? " (already open)" : "");
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static const char close_help[] =
	"Options:\n"
	"      --deferred         if the device is in use, remove it when\n"
	"                         the last user closes it\n"
	"      --all              every open pvenc volume of this node (no Ceph or KMS\n"
	"                         needed; what pvenc-shutdown.service runs)\n"
	"      --unmount          with --all: unmount filesystems on them first\n\n";

/* close --all / unmap --all: done here, never through the agent (it may be stopping). */
static int close_all(struct args *a, struct pvenc_ctx *ctx, unsigned flags)
{
	unsigned closed = 0;
	int r;

	if (a->npos || (a->unmount && !a->all) || a->deferred) {
		log_error("--all takes no image and no --deferred; --unmount needs --all");
		return EXIT_USAGE;
	}
	r = volume_close_all(ctx, flags | (a->unmount ? CLOSE_ALL_UNMOUNT : 0), &closed);
	if (r == 0)
		(void)printf("%u volume(s) %s\n", closed,
			     flags & CLOSE_ALL_UNMAP ? "closed and unmapped" : "closed");
	pvenc_ctx_done(ctx);
	return report(ctx, r);
}

static int cmd_close(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	int was_open;

	PREPARE("close", O_DEFERRED | O_ALL | O_UNMOUNT, 0, 1, close_help);
	if (a.all || a.unmount)
		return close_all(&a, &ctx, 0);
	if (a.npos != 1) {
		cmd_usage(stderr, "close", close_help);
		return EXIT_USAGE;
	}
	{
		struct json_object *o = NULL;

		r = agent_call(&a, &cfg, "close", a.pos[0], a.deferred, &o);
		json_object_put(o);
		if (r != 0)
			return r > 0 ? EXIT_OK : errno_to_exit(r);
	}
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_close(&ctx, &v, a.deferred, &was_open);
	if (r == 0 && !was_open)
		(void)printf("%s was not open\n", a.pos[0]);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static void print_obj(struct json_object *o)
{
	json_object_object_foreach(o, k, v)
	{
		(void)printf("%-17s %s\n", k, v ? json_object_get_string(v) : "-");
	}
}

static int cmd_status(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct json_object *o = NULL;

	PREPARE("status", O_JSON, 1, 1, "Options:\n      --json             JSON output\n\n");
	r = agent_call(&a, &cfg, "status", a.pos[0], 0, &o);
	if (r < 0)
		return errno_to_exit(r);
	if (r == 0) {
		r = vol_target(&ctx, a.pos[0], &v);
		if (r == 0)
			r = volume_status(&ctx, &v, &o);
	} else {
		r = 0;
	}
	if (r == 0) {
		if (a.json)
			(void)printf("%s\n", json_object_to_json_string_ext(
						     o, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			print_obj(o);
		json_object_put(o);
	}
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static int cmd_list(int argc, char **argv)
{
	struct json_object *arr = NULL;

	PREPARE("list", O_JSON, 0, 0, "Options:\n      --json             JSON output\n\n");
	r = agent_call(&a, &cfg, "list", NULL, 0, &arr);
	if (r < 0)
		return errno_to_exit(r);
	r = r > 0 ? 0 : volume_list(&ctx, &arr);
	if (r == 0) {
		if (a.json) {
			(void)printf("%s\n", json_object_to_json_string_ext(
						     arr, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		} else {
			size_t n = json_object_array_length(arr);

			(void)printf("%-12s %-32s %-10s %-10s %-5s %s\n", "DEVICE", "IMAGE",
				     "ENCRYPTION", "STATE", "OPEN", "DECRYPTED");
			for (size_t i = 0; i < n; i++) {
				struct json_object *o = json_object_array_get_idx(arr, i);

				(void)printf("%-12s %-32s %-10s %-10s %-5s %s\n", jstr(o, "device"),
					     jstr(o, "image"), jstr(o, "encryption"),
					     jstr(o, "state"), jstr(o, "open"),
					     jstr(o, "decrypted_device"));
			}
		}
		json_object_put(arr);
	}
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static int cmd_unmap(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	static const char unmap_help[] =
		"Use this instead of 'rbd unmap' for an open volume: krbd refuses to unmap a\n"
		"device that dm-crypt holds (device busy).\n\n"
		"Options:\n"
		"      --all              every open pvenc volume of this node\n"
		"      --unmount          with --all: unmount filesystems on them first\n\n";

	PREPARE("unmap", O_ALL | O_UNMOUNT, 0, 1, unmap_help);
	if (a.all || a.unmount)
		return close_all(&a, &ctx, CLOSE_ALL_UNMAP);
	if (a.npos != 1) {
		cmd_usage(stderr, "unmap", unmap_help);
		return EXIT_USAGE;
	}
	{
		struct json_object *o = NULL;

		r = agent_call(&a, &cfg, "unmap", a.pos[0], 0, &o);
		json_object_put(o);
		if (r != 0)
			return r > 0 ? EXIT_OK : errno_to_exit(r);
	}
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_unmap(&ctx, &v);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static int cmd_resize(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	uint64_t size = 0;

	PREPARE("resize", 0, 1, 1, "");
	{
		struct json_object *o = NULL;

		r = agent_call(&a, &cfg, "resize", a.pos[0], 0, &o);
		json_object_put(o);
		if (r != 0)
			return r > 0 ? EXIT_OK : errno_to_exit(r);
	}
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_resize(&ctx, &v, &size);
	if (r == 0)
		(void)printf("%s: decrypted device is %llu bytes\n", a.pos[0],
			     (unsigned long long)size);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static int cmd_help(int argc, char **argv)
{
	usage(stdout);
	return EXIT_OK;
}

static int wants_help(int argc, char **argv)
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

static const char delete_help[] =
	"Removes the image (it must be unmapped everywhere and have no snapshots), then\n"
	"destroys its DEK where the KMS keeps it (vault-kv and ceph-csi's Vault types, as\n"
	"vaultDestroyKeys says). Envelope KEKs (keyfile, Transit keys) are never deleted.\n"
	"In steps: the image moves to the RBD trash, the DEK goes, then the trash entry; if a\n"
	"delete stops anywhere, running it again finishes it.\n\n"
	"Options:\n"
	"      --force IMAGE      required: repeat the image name to confirm\n"
	"      --kms ID           ceph-csi volumes: KMS id (default: from ceph-csi's journal)\n"
	"      --csi-volume-id ID ceph-csi volumes: CSI volume handle (default: derived)\n\n";

static int cmd_delete(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct open_opts oo = { 0 };

	PREPARE("delete", O_FORCE | O_KMS | O_CSI_VOLUME_ID, 1, 1, delete_help);
	oo.kms_id = a.kms;
	oo.csi_volume_id = a.csi_volume_id;
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_delete(&ctx, &v, &oo, a.force);
	if (r == 0)
		(void)printf("deleted %s\n", a.pos[0]);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static const char rotate_help[] =
	"--dek (default): a new random DEK gets a new LUKS2 keyslot, is wrapped and stored,\n"
	"and the old keyslot is removed. Data and volume key stay; the volume may be open\n"
	"and busy on any node. Crash-safe: the stored DEK opens the volume after a stop at\n"
	"any step, and the next rotation finishes an interrupted one.\n"
	"--kek: the DEK is wrapped again under the KMS's newest key (Vault Transit's latest\n"
	"version after transit/keys/NAME/rotate; the key the entry names now for KMIP and\n"
	"PKCS#11). Nothing else changes.\n"
	"One node at a time: a lease lock on the image (exit 5 if another node holds it).\n\n"
	"Options:\n"
	"      --dek              rotate the data-encryption key (default)\n"
	"      --kek              wrap the DEK under the newest key-encryption key\n"
	"      --if-due           rotate the DEK only if the volume's schedule says it is due\n"
	"                         (what pvenc-agent does; for cron on nodes without the agent)\n\n";

static int cmd_rotate(int argc, char **argv)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct rotate_result rr = { 0 };

	PREPARE("rotate", O_DEK | O_KEK | O_IF_DUE, 1, 1, rotate_help);
	if (a.dek + a.kek + (a.if_due && a.kek) > 1) {
		log_error("pvencctl rotate: one of --dek or --kek (--if-due rotates the DEK)");
		return EXIT_USAGE;
	}
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0 && a.if_due)
		r = volume_rotate_if_due(&ctx, &v, &rr);
	else if (r == 0)
		r = volume_rotate(&ctx, &v, a.kek ? ROTATE_KEK : ROTATE_DEK, 0, &rr);
	if (r == 0 && rr.skipped)
		(void)printf("%s: nothing to do (not due, or another node is rotating it)\n",
			     a.pos[0]);
	else if (r == 0 && a.kek)
		(void)printf("%s: DEK wrapped under key version %u\n", a.pos[0], rr.key_version);
	else if (r == 0)
		(void)printf("%s: DEK rotated%s, now version %u\n", a.pos[0],
			     rr.resumed ? " (an interrupted rotation finished)" : "",
			     rr.dek_version);
	pvenc_ctx_done(&ctx);
	return report(&ctx, r);
}

static const char kms_help[] =
	"check: connects to the KMS of entry ID, authenticates, and wraps and unwraps (or\n"
	"stores, fetches and removes) a random probe key, printing one line per step:\n"
	"  ok    the step works\n  FAIL  the step fails, with the reason\n"
	"  --    information\n"
	"create-key: creates the KEK the entry names (pkcs11: a non-extractable, sensitive\n"
	"AES-256 key on the token; kmip: an activated AES-256 key, its UID printed;\n"
	"vault-transit: the Transit key); refuses if it exists.\n\n"
	"Options:\n"
	"      --tenant POOL[/NS] apply the entry's tenant override for that pool/namespace\n\n";

static void check_line(void *u, int ok, const char *text)
{
	(void)u;
	(void)printf("%-5s %s\n", ok > 0 ? "ok" : ok == 0 ? "FAIL" : "--", text);
}

static int cmd_kms(int argc, char **argv)
{
	_cleanup_kms_ struct kms *k = NULL;
	const struct kms_check_ops c = { .line = check_line };
	char pool[256] = "", *ns = NULL;

	PREPARE("kms", O_TENANT, 2, 2, kms_help);
	(void)ctx;
	if (strcmp(a.pos[0], "check") != 0 && strcmp(a.pos[0], "create-key") != 0) {
		cmd_usage(stderr, "kms", kms_help);
		return EXIT_USAGE;
	}
	if (a.tenant) {
		(void)snprintf(pool, sizeof(pool), "%s", a.tenant);
		ns = strchr(pool, '/');
		if (ns)
			*ns++ = '\0';
	}
	r = kms_open(cfg.kms_config, a.pos[1], a.tenant ? pool : NULL, ns, &k, ctx.err,
		     sizeof(ctx.err));
	if (r < 0) {
		check_line(NULL, 0, ctx.err);
		return errno_to_exit(r);
	}
	if (!strcmp(a.pos[0], "create-key")) {
		r = kms_create_key(k);
		if (r < 0)
			log_error("%s", k->error[0] ? k->error : strerror(-r));
		else
			(void)printf("created the key of KMS '%s'\n", a.pos[1]);
		return errno_to_exit(r);
	}
	r = kms_check(k, &c);
	(void)printf("%s\n", r < 0 ? "KMS check failed" : "KMS check passed");
	return errno_to_exit(r);
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
