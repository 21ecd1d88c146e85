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

int cmd_kms(int argc, char **argv)
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
