/* SPDX-License-Identifier: MIT */
/* pvencctl's pieces: the command table and dispatch (main.c), options and
 * configuration (args.c), the volume commands (volume.c), kms and spec (kms.c). */
#ifndef PVENC_TOOLS_PVENCCTL_H
#define PVENC_TOOLS_PVENCCTL_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

#include "util/config.h"
#include "util/macro.h"
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

struct args {
	const char *config, *ceph_conf, *id, *kms_config;
	const char *size, *kms, *force, *csi_volume_id, *tenant, *from, *to_kms, *recovery_kms,
		*all_in;
	int verbose, help, no_agent, deferred, json, dek, kek, if_due, all, unmount, check, dry_run;
	const char *pos[3];
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
	O_FROM = 1 << 12,
	O_CHECK = 1 << 13,
	O_DRY_RUN = 1 << 14,
	O_TO_KMS = 1 << 15,
	O_RECOVERY_KMS = 1 << 16,
	O_ALL_IN = 1 << 17,
};

/* Help lines shared by the commands that take a ceph-csi volume's KMS and handle. */
#define HELP_CSI_OPTS                                                                            \
	"      --kms ID           ceph-csi volumes: KMS id (default: from ceph-csi's journal)\n" \
	"      --csi-volume-id ID ceph-csi volumes: CSI volume handle (default: derived)\n"
#define HELP_DRY_RUN \
	"      --dry-run          check everything, change nothing, say what it would do\n"

int parse_args(const char *cmd, int argc, char **argv, struct args *a);
int load_config(const struct args *a, struct pvenc_config *cfg);
/* Sizes as rbd takes them: a plain number is MiB; B, K, M, G, T suffixes (binary). */
int parse_size(const char *s, uint64_t *out);

int errno_to_exit(int r);
void cmd_usage(FILE *f, const char *name, const char *extra);
/* When pvenc-agent runs, volume operations go through it: 1 with *result when it
 * answered OK, <0 (message printed) when it answered an error, 0 when none listens. */
int agent_call(const struct args *a, const struct pvenc_config *cfg, const char *op,
	       const char *target, int deferred, struct json_object **result);
int bool_field(struct json_object *o, const char *k);
const char *jstr(struct json_object *o, const char *k);
int report(struct pvenc_ctx *ctx, int r);
/* -h or --help among the arguments. */
int wants_help(int argc, char **argv);

/* The start of every command: its options, pvenc.conf and a context closed on return.
 * A struct vol is declared after it, so that it is freed before the context closes. */
#define PREPARE(cmdname, allowed_opts, npos_min, npos_max, extra_help) \
	struct args a = { .allowed = (allowed_opts) };                 \
	struct pvenc_config cfg;                                       \
	_cleanup_(pvenc_ctx_done) struct pvenc_ctx ctx = { 0 };        \
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

int cmd_create(int argc, char **argv);
int cmd_format(int argc, char **argv);
int cmd_open(int argc, char **argv);
int cmd_close(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_unmap(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_spec(int argc, char **argv);
int cmd_kms(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_header(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_rebind(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_recovery(int argc, char **argv);
int cmd_recover(int argc, char **argv);
/* create/format --recovery-kms: the recovery key once the volume is formatted. */
int set_recovery_after(struct pvenc_ctx *ctx, struct vol *v, const char *kms_id,
		       const char *primary, struct dry_run *dry);

#endif
