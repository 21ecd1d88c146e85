// SPDX-License-Identifier: MIT
/* pvencctl migrate: a volume, or every pvenc volume of a pool or namespace, bound to
 * another KMS entry (volume/migrate.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvencctl.h"
#include "util/imagespec.h"
#include "util/log.h"
#include "util/macro.h"

static const char migrate_help[] =
	"Binds a volume that opens to KMS entry ID: a new DEK kept by ID and proven there\n"
	"(ID must give back what it wrapped or stored), a keyslot for it unlocked with the\n"
	"current DEK, the metadata switched to ID, the old DEK's keyslot removed, and a DEK\n"
	"the old entry kept removed from it. The volume key and the data do not change; the\n"
	"volume may be open and in use, on any node. A migrate that stopped half way is\n"
	"finished by running it again. ID may name another endpoint than the volume's:\n"
	"this is how a volume leaves an old KMS cluster.\n\n"
	"Options:\n"
	"      --to-kms ID        the KMS entry for the volume's DEK\n"
	"      --all-in POOL[/NS] every pvenc volume of POOL (its default namespace) or NS\n"
	"                         that is not bound to ID yet; stopped ones are "
	"finished\n" HELP_DRY_RUN "\n";

static int migrate_one(struct pvenc_ctx *ctx, const char *target, const char *to_kms, int dry_run)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct dry_run dry = { "" };
	struct migrate_result res;
	int r;

	ctx->err[0] = '\0';
	r = vol_target(ctx, target, &v);
	if (r == 0)
		r = volume_migrate(ctx, &v, to_kms, dry_run ? &dry : NULL, &res);
	if (r == 0 && dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0 && res.already)
		(void)printf("%s is bound to KMS %s (nothing left to do)\n", target, to_kms);
	else if (r == 0)
		(void)printf("%s is bound to KMS %s now (was %s), DEK version %u\n", target, to_kms,
			     res.was, (unsigned)res.dek_version);
	return r;
}

/* --all-in: the pvenc volumes of one pool (default namespace) or namespace. */
static int migrate_all(struct pvenc_ctx *ctx, const char *where, const char *to_kms, int dry_run)
{
	_cleanup_free_ struct image_spec *specs = NULL;
	const char *slash = strchr(where, '/');
	size_t n = 0, odd = 0, done = 0, failed = 0, skipped = 0;
	size_t plen = slash ? (size_t)(slash - where) : strlen(where);
	const char *ns = slash ? slash + 1 : "";
	int r, worst = 0;

	if (plen == 0 || strchr(ns, '/'))
		return log_err(-EINVAL, "--all-in takes POOL or POOL/NAMESPACE, not '%s'", where);
	r = volume_list_images(ctx, &specs, &n, &odd);
	if (r < 0)
		return log_err(r, "%s", ctx->err);
	for (size_t i = 0; i < n; i++) {
		char name[SPEC_STR_MAX];

		if (strlen(specs[i].pool) != plen || strncmp(specs[i].pool, where, plen) != 0 ||
		    strcmp(specs[i].ns, ns) != 0)
			continue;
		(void)image_spec_format(&specs[i], name, sizeof(name));
		r = migrate_one(ctx, name, to_kms, dry_run);
		if (r == -ENOMSG)
			continue; /* not an encrypted image */
		if (r == -EOPNOTSUPP) {
			(void)printf("%s: skipped: %s\n", name, ctx->err);
			skipped++;
		} else if (r < 0) {
			log_error("%s: %s", name, ctx->err[0] ? ctx->err : strerror(-r));
			failed++;
			worst = r;
		} else {
			done++;
		}
	}
	(void)printf("%s: %zu volumes bound to KMS %s%s, %zu failed, %zu skipped%s\n", where, done,
		     to_kms, dry_run ? " (dry run)" : "", failed, skipped,
		     odd ? " (images with names pvenc cannot handle left out)" : "");
	return worst;
}

int cmd_migrate(int argc, char **argv)
{
	PREPARE("migrate", O_TO_KMS | O_ALL_IN | O_DRY_RUN, 0, 1, migrate_help);
	if (!a.to_kms || !a.all_in == !a.npos) {
		log_error("migrate needs POOL/[NS/]IMAGE or --all-in POOL[/NS], and --to-kms ID");
		return EXIT_USAGE;
	}
	if (a.all_in) {
		r = migrate_all(&ctx, a.all_in, a.to_kms, a.dry_run);
		return r < 0 ? errno_to_exit(r) : EXIT_OK;
	}
	r = migrate_one(&ctx, a.pos[0], a.to_kms, a.dry_run);
	return report(&ctx, r);
}
