// SPDX-License-Identifier: MIT
/* pvencctl kms (check, create-key) and spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/kms.h"
#include "pvencctl.h"
#include "util/imagespec.h"
#include "util/log.h"
#include "util/macro.h"

int cmd_spec(int argc, char **argv)
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

static const char kms_help[] =
	"list: the entries of kms.json, one per line: id, type and the pools it serves\n"
	"(\"*\": every pool). Nothing is contacted.\n"
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
	char safe[2048];

	/* The text quotes the KMS's answers: one finding, one line. */
	log_escape(text, safe, sizeof(safe));
	(void)printf("%-5s %s\n", ok > 0 ? "ok" : ok == 0 ? "FAIL" : "--", safe);
}

static void list_line(void *u, const char *id, const char *type, const char *pools)
{
	int *header_done = u;
	char safe[3][1024];

	if (!*header_done)
		(void)printf("%-24s %-22s %s\n", "ID", "TYPE", "POOLS");
	*header_done = 1;
	/* Names from a file an operator wrote, still one entry per line. */
	log_escape(id, safe[0], sizeof(safe[0]));
	log_escape(type ? type : "-", safe[1], sizeof(safe[1]));
	log_escape(pools ? pools : "*", safe[2], sizeof(safe[2]));
	(void)printf("%-24s %-22s %s\n", safe[0], safe[1], safe[2]);
}

int cmd_kms(int argc, char **argv)
{
	_cleanup_kms_ struct kms *k = NULL;
	const struct kms_check_ops c = { .line = check_line };
	char pool[256] = "", *ns = NULL;

	PREPARE("kms", O_TENANT, 1, 2, kms_help);
	if (a.npos == 1 && !strcmp(a.pos[0], "list")) {
		int header_done = 0;

		r = kms_list(cfg.kms_config, list_line, &header_done, ctx.err, sizeof(ctx.err));
		if (r == 0 && !header_done)
			(void)printf("%-24s %-22s %s\n", "ID", "TYPE", "POOLS"); /* no entries */
		return report(&ctx, r);
	}
	if (a.npos != 2 ||
	    (strcmp(a.pos[0], "check") != 0 && strcmp(a.pos[0], "create-key") != 0)) {
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
		_cleanup_free_ char *key_id = NULL;

		r = kms_create_key(k, &key_id);
		if (r < 0) {
			log_error("%s", k->error[0] ? k->error : strerror(-r));
		} else {
			/* The identifier alone first, for scripts (a KMIP unique identifier). */
			(void)printf("%s\n", key_id);
			(void)printf("created the key of KMS '%s'\n", a.pos[1]);
		}
		return errno_to_exit(r);
	}
	r = kms_check(k, &c);
	(void)printf("%s\n", r < 0 ? "KMS check failed" : "KMS check passed");
	return errno_to_exit(r);
}
