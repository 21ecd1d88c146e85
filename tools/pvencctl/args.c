// SPDX-License-Identifier: MIT
/* pvencctl's options (one table, each with the commands that take it) and config. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pvencctl.h"
#include "util/log.h"
#include "util/macro.h"

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
	OPT("from", 0, 1, from, O_FROM),
	OPT("check", 0, 0, check, O_CHECK),
	OPT("dry-run", 0, 0, dry_run, O_DRY_RUN),
	OPT("to-kms", 0, 1, to_kms, O_TO_KMS),
	OPT("recovery-kms", 0, 1, recovery_kms, O_RECOVERY_KMS),
	OPT("all-in", 0, 1, all_in, O_ALL_IN),
};
#undef OPT
/* getopt's value for a long-only option: this past the index in opt_defs. */
#define OPT_KEY_BASE 0x100

int parse_args(const char *cmd, int argc, char **argv, struct args *a)
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
		if (a->npos == (int)ARRAY_SIZE(a->pos)) {
			(void)fprintf(stderr, "pvencctl %s: too many arguments\n", cmd);
			return -EINVAL;
		}
		a->pos[a->npos++] = argv[i];
	}
	return 0;
}

int load_config(const struct args *a, struct pvenc_config *cfg)
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

int parse_size(const char *s, uint64_t *out)
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
