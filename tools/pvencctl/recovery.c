// SPDX-License-Identifier: MIT
/* pvencctl recovery set|remove and pvencctl recover: the recovery key
 * (volume/recovery.c, Documentation/recovery.md). */
#include <stdio.h>
#include <string.h>

#include "pvencctl.h"
#include "util/log.h"
#include "util/macro.h"

static const char recovery_help[] =
	"set: gives the volume a recovery key: a second random key with a LUKS2 keyslot of\n"
	"its own, wrapped by KMS entry --kms ID, which must wrap keys (keyfile, passphrase,\n"
	"vault-transit, kmip, pkcs11) and must not be the volume's own entry. It replaces\n"
	"the recovery key the volume had. The volume must open now (its DEK unlocks the new\n"
	"keyslot). Rotation keeps the recovery key. A set that stopped half way leaves the\n"
	"volume opening with its DEK: run it again.\n"
	"remove: takes the recovery key away (its metadata, then its keyslot).\n\n"
	"Options:\n"
	"      --kms ID           set: the KMS entry that wraps the recovery key\n" HELP_DRY_RUN
	"\n";

int cmd_recovery(int argc, char **argv)
{
	struct dry_run dry = { "" };
	int set;

	PREPARE("recovery", O_KMS | O_DRY_RUN, 2, 2, recovery_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	set = !strcmp(a.pos[0], "set");
	if ((!set && strcmp(a.pos[0], "remove") != 0) || set != !!a.kms) {
		cmd_usage(stderr, "recovery", recovery_help);
		return EXIT_USAGE;
	}
	r = vol_target(&ctx, a.pos[1], &v);
	if (r == 0)
		r = set ? volume_recovery_set(&ctx, &v, a.kms, a.dry_run ? &dry : NULL)
			: volume_recovery_remove(&ctx, &v, a.dry_run ? &dry : NULL);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0 && set)
		(void)printf("%s has a recovery key wrapped by KMS %s\n", a.pos[1], a.kms);
	else if (r == 0)
		(void)printf("%s has no recovery key now\n", a.pos[1]);
	return report(&ctx, r);
}

int set_recovery_after(struct pvenc_ctx *ctx, struct vol *v, const char *kms_id,
		       const char *primary, struct dry_run *dry)
{
	char why[sizeof(ctx->err)];
	int r;

	if (dry) {
		size_t n = strlen(dry->text);

		r = volume_recovery_usable(ctx, v, kms_id, primary);
		if (r == 0)
			(void)snprintf(dry->text + n, sizeof(dry->text) - n,
				       "; then would give it a recovery key wrapped by KMS '%s'",
				       kms_id);
		return r;
	}
	r = volume_recovery_set(ctx, v, kms_id, NULL);
	if (r < 0) {
		(void)snprintf(why, sizeof(why), "%s", ctx->err);
		(void)snprintf(ctx->err, sizeof(ctx->err),
			       "%.200s is formatted, but without its recovery key: %.500s; run "
			       "'pvencctl recovery set %.100s --kms %.100s'",
			       v->name, why, v->name, kms_id);
	}
	return r;
}

static const char recover_help[] =
	"For a volume whose DEK is lost (its KMS entry gone, its key destroyed), with a\n"
	"recovery key (pvencctl recovery set).\n"
	"Without --to-kms: opens the mapped volume with the recovery key, as open does.\n"
	"With --to-kms ID: binds the volume to KMS entry ID: a new DEK from it, a keyslot\n"
	"for it unlocked with the recovery key, the metadata switched to it, the lost DEK's\n"
	"keyslot removed. The recovery key stays. Mapped or not, open or not, on any node;\n"
	"a recover that stopped half way is finished by running it again.\n\n"
	"Options:\n"
	"      --to-kms ID        the new KMS entry for the volume's DEK\n" HELP_DRY_RUN "\n";

int cmd_recover(int argc, char **argv)
{
	struct dry_run dry = { "" };
	struct recover_result res;

	PREPARE("recover", O_TO_KMS | O_DRY_RUN, 1, 1, recover_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0 && !a.to_kms) {
		struct open_opts oo = { .recovery = 1 };
		struct open_result or ;

		if (a.dry_run) {
			log_error("--dry-run goes with --to-kms (pvencctl verify checks the "
				  "recovery key without opening)");
			return EXIT_USAGE;
		}
		r = volume_open(&ctx, &v, &oo, & or);
		if (r == 0)
			(void)printf("%s%s (opened with the recovery key)\n", or.dm_path,
				     or.already ? " (already open)" : "");
		return report(&ctx, r);
	}
	if (r == 0)
		r = volume_recover(&ctx, &v, a.to_kms, a.dry_run ? &dry : NULL, &res);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0)
		(void)printf("%s is bound to KMS %s now (was %s), DEK version %u\n", a.pos[0],
			     a.to_kms, res.was, (unsigned)res.dek_version);
	return report(&ctx, r);
}
