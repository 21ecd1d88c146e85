// SPDX-License-Identifier: MIT
/* pvencctl's volume commands: create, format, open, close, status, list, unmap,
 * resize, delete, rotate. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pvencctl.h"
#include "util/log.h"
#include "util/macro.h"

static const char create_help[] =
	"Options:\n"
	"      --size SIZE        image size; a plain number is MiB (as rbd), or use\n"
	"                         K, M, G, T suffixes; at least 17 MiB (16 MiB LUKS2 header)\n"
	"      --kms ID           KMS entry that wraps the volume's DEK\n"
	"      --recovery-kms ID  also give it a recovery key wrapped by this entry\n"
	"      --dry-run          check everything, change nothing, say what it would do\n\n";

int cmd_create(int argc, char **argv)
{
	struct format_opts fo = { 0 };
	uint64_t size;

	struct dry_run dry = { "" };

	PREPARE("create", O_SIZE | O_KMS | O_RECOVERY_KMS | O_DRY_RUN, 1, 1, create_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	if (!a.size || !a.kms || parse_size(a.size, &size) < 0) {
		log_error("create needs --size SIZE (e.g. 10G) and --kms ID");
		return EXIT_USAGE;
	}
	fo.kms_id = a.kms;
	fo.dry = a.dry_run ? &dry : NULL;
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_create(&ctx, &v, size, &fo);
	if (r == 0 && a.recovery_kms)
		r = set_recovery_after(&ctx, &v, a.recovery_kms, fo.kms_id, fo.dry);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0)
		(void)printf("created %s (encrypted, KMS %s)\n", a.pos[0], a.kms);
	return report(&ctx, r);
}

static const char format_help[] =
	"Formats only images without data: any filesystem, partition table or other\n"
	"signature, or non-zero bytes in the first MiB, make it refuse. An interrupted\n"
	"format is resumed with the DEK already stored; a formatted volume is never\n"
	"formatted again.\n\n"
	"Options:\n"
	"      --kms ID           KMS entry that wraps the volume's DEK\n"
	"      --force IMAGE      overwrite existing data; IMAGE must repeat the image\n"
	"      --recovery-kms ID  also give it a recovery key wrapped by this entry\n"
	"      --dry-run          check everything, change nothing, say what it would do\n\n";

int cmd_format(int argc, char **argv)
{
	struct format_opts fo = { 0 };
	struct dry_run dry = { "" };

	PREPARE("format", O_KMS | O_FORCE | O_RECOVERY_KMS | O_DRY_RUN, 1, 1, format_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	fo.kms_id = a.kms;
	fo.force = a.force;
	fo.dry = a.dry_run ? &dry : NULL;
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_format(&ctx, &v, &fo);
	if (r == 0 && a.recovery_kms)
		r = set_recovery_after(&ctx, &v, a.recovery_kms, fo.kms_id, fo.dry);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0)
		(void)printf("formatted %s\n", a.pos[0]);
	return report(&ctx, r);
}

static const char open_help[] =
	"The image must be mapped (rbd map). Opening an open volume changes nothing.\n"
	"Snapshots open read-only. Prints the decrypted device.\n\n"
	"Options (volumes created by ceph-csi only):\n"
	"      --kms ID             KMS entry (default: from ceph-csi's journal)\n"
	"      --csi-volume-id ID   CSI volume handle (default: derived from\n"
	"                           [ceph-csi] cluster-id, the pool id and the image name)\n\n";

int cmd_open(int argc, char **argv)
{
	struct open_opts oo = { 0 };
	struct open_result res;

	PREPARE("open", O_KMS | O_CSI_VOLUME_ID, 1, 1, open_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
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
	return report(ctx, r);
}

int cmd_close(int argc, char **argv)
{
	int was_open;

	PREPARE("close", O_DEFERRED | O_ALL | O_UNMOUNT, 0, 1, close_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
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
	return report(&ctx, r);
}

static void print_obj(struct json_object *o)
{
	json_object_object_foreach(o, k, v)
	{
		(void)printf("%-17s %s\n", k, v ? json_object_get_string(v) : "-");
	}
}

int cmd_status(int argc, char **argv)
{
	struct json_object *o = NULL;

	PREPARE("status", O_JSON, 1, 1, "Options:\n      --json             JSON output\n\n");
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
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
	return report(&ctx, r);
}

static const char list_help[] =
	"One line per mapped rbd device of this node: the image, the agent's state (opening,\n"
	"open, retrying, failed, ignored, closed), the decrypted device and the last error.\n"
	"It asks pvenc-agent and device-mapper, never Ceph: it answers during an outage.\n\n"
	"Options:\n"
	"      --json             JSON output\n"
	"      --check            a monitoring check: one line per volume that is not open,\n"
	"                         then a summary; exit 0 OK, 1 WARNING (opening, closed),\n"
	"                         2 CRITICAL (retrying, failed), 3 UNKNOWN (no agent)\n\n";

/* A device's state: the agent's, or without an agent what device-mapper shows. */
static const char *list_state(struct json_object *o, int agent)
{
	struct json_object *ag;

	if (agent && json_object_object_get_ex(o, "agent", &ag) && ag)
		return jstr(ag, "state");
	if (bool_field(o, "open"))
		return "open";
	return agent ? "unknown" : "not-open";
}

static const char *list_error(struct json_object *o, char *buf, size_t len)
{
	struct json_object *ag;
	const char *e;

	if (!json_object_object_get_ex(o, "agent", &ag) || !ag)
		return "-";
	e = jstr(ag, "last_error");
	/* One line per device, whatever a KMS's answer quoted in the error holds. */
	log_escape(e, buf, len);
	return buf;
}

/* Nagios level of one device for list --check. */
static int list_level(const char *state, int agent)
{
	if (!strcmp(state, "open") || !strcmp(state, "ignored"))
		return 0;
	if (!agent)
		return 3;
	if (!strcmp(state, "retrying") || !strcmp(state, "failed"))
		return 2;
	return 1;
}

static int list_check(struct json_object *arr, int agent, int asked)
{
	static const char *const level_name[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
	size_t n = json_object_array_length(arr), count[4] = { 0 };
	char err[4 * 1024];
	int worst = agent ? 0 : 1;

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *state = list_state(o, agent);
		int level = list_level(state, agent);

		count[level]++;
		if (level == 2 || (level == 3 && worst != 2) || (level == 1 && worst == 0))
			worst = level;
		if (level == 0)
			continue;
		if (agent)
			(void)printf("%s: %s: %s (%s): %s\n", jstr(o, "image"), level_name[level],
				     state, jstr(o, "device"), list_error(o, err, sizeof(err)));
		else
			(void)printf("%s: %s: not open (%s); without the agent pvencctl cannot "
				     "tell why, nor whether it is encrypted\n",
				     jstr(o, "image"), level_name[level], jstr(o, "device"));
	}
	(void)printf("%zu mapped: %zu ok, %zu warning, %zu critical, %zu unknown%s\n", n, count[0],
		     count[1], count[2], count[3],
		     agent   ? ""
		     : asked ? "; pvenc-agent is not running: volumes mapped now will not open"
			     : "; the agent was not asked (--no-agent)");
	return worst;
}

static void list_table(struct json_object *arr, int agent)
{
	size_t n = json_object_array_length(arr);
	char err[4 * 1024];

	(void)printf("%-11s %-28s %-9s %-32s %s\n", "DEVICE", "IMAGE", "STATE", "DECRYPTED",
		     "LAST ERROR");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		char link[SPEC_STR_MAX + 16];
		const char *dec = "-";

		/* The udev rule's name, when it is there: the one operators use. */
		if (bool_field(o, "open")) {
			(void)snprintf(link, sizeof(link), "/dev/pvenc/%s", jstr(o, "image"));
			dec = access(link, F_OK) == 0 ? link : jstr(o, "decrypted_device");
		}
		(void)printf("%-11s %-28s %-9s %-32s %s\n", jstr(o, "device"), jstr(o, "image"),
			     list_state(o, agent), dec, list_error(o, err, sizeof(err)));
	}
}

int cmd_list(int argc, char **argv)
{
	struct json_object *arr = NULL;
	int agent;

	PREPARE("list", O_JSON | O_CHECK, 0, 0, list_help);
	if (a.json && a.check) {
		cmd_usage(stderr, "list", list_help);
		return EXIT_USAGE;
	}
	r = agent_call(&a, &cfg, "list", NULL, 0, &arr);
	if (r < 0)
		return a.check ? 3 : errno_to_exit(r);
	agent = r > 0;
	if (!agent) {
		r = volume_list(&arr);
		if (r < 0) {
			if (a.check) {
				(void)printf(
					"mapped volumes: UNKNOWN: cannot list rbd devices: %s\n",
					strerror(-r));
				return 3;
			}
			log_error("cannot list rbd devices: %s", strerror(-r));
			return errno_to_exit(r);
		}
	}
	if (a.check)
		r = list_check(arr, agent, !a.no_agent);
	else if (a.json)
		(void)printf("%s\n", json_object_to_json_string_ext(
					     arr, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		list_table(arr, agent);
	json_object_put(arr);
	return a.check ? r : EXIT_OK;
}

int cmd_unmap(int argc, char **argv)
{
	static const char unmap_help[] =
		"Use this instead of 'rbd unmap' for an open volume: krbd refuses to unmap a\n"
		"device that dm-crypt holds (device busy).\n\n"
		"Options:\n"
		"      --all              every open pvenc volume of this node\n"
		"      --unmount          with --all: unmount filesystems on them first\n\n";

	PREPARE("unmap", O_ALL | O_UNMOUNT, 0, 1, unmap_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
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
	return report(&ctx, r);
}

int cmd_resize(int argc, char **argv)
{
	uint64_t size = 0;

	PREPARE("resize", 0, 1, 1, "");
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
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
	return report(&ctx, r);
}

static const char delete_help[] =
	"Removes the image (it must be unmapped everywhere and have no snapshots), then\n"
	"destroys its DEK where the KMS keeps it (vault-kv and ceph-csi's Vault types, as\n"
	"vaultDestroyKeys says). Envelope KEKs (keyfile, Transit keys) are never deleted.\n"
	"In steps: the image moves to the RBD trash, the DEK goes, then the trash entry; if a\n"
	"delete stops anywhere, running it again finishes it.\n\n"
	"Options:\n"
	"      --force IMAGE      required: repeat the image name to confirm\n" HELP_CSI_OPTS
	"      --dry-run          check everything, change nothing, say what it would do\n\n";

int cmd_delete(int argc, char **argv)
{
	struct open_opts oo = { 0 };
	struct dry_run dry = { "" };

	PREPARE("delete", O_FORCE | O_KMS | O_CSI_VOLUME_ID | O_DRY_RUN, 1, 1, delete_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	oo.kms_id = a.kms;
	oo.csi_volume_id = a.csi_volume_id;
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_delete(&ctx, &v, &oo, a.force, a.dry_run ? &dry : NULL);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0)
		(void)printf("deleted %s\n", a.pos[0]);
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
	"                         (what pvenc-agent does; for cron on nodes without the agent)\n"
	"      --dry-run          check everything, change nothing, say what it would do\n\n";

int cmd_rotate(int argc, char **argv)
{
	struct rotate_result rr = { 0 };

	PREPARE("rotate", O_DEK | O_KEK | O_IF_DUE | O_DRY_RUN, 1, 1, rotate_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	if (a.dek + a.kek + (a.if_due && a.kek) > 1) {
		log_error("pvencctl rotate: one of --dek or --kek (--if-due rotates the DEK)");
		return EXIT_USAGE;
	}
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0 && a.if_due)
		r = volume_rotate_if_due(&ctx, &v, (unsigned)a.dry_run, &rr);
	else if (r == 0)
		r = volume_rotate(&ctx, &v,
				  (a.kek ? ROTATE_KEK : ROTATE_DEK) |
					  (a.dry_run ? ROTATE_DRY_RUN : 0),
				  0, &rr);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", rr.plan[0] ? rr.plan : "nothing to do");
	else if (r == 0 && rr.skipped)
		(void)printf("%s: nothing to do (not due, or another node is rotating it)\n",
			     a.pos[0]);
	else if (r == 0 && a.kek)
		(void)printf("%s: DEK wrapped under key version %u\n", a.pos[0], rr.key_version);
	else if (r == 0)
		(void)printf("%s: DEK rotated%s, now version %u\n", a.pos[0],
			     rr.resumed ? " (an interrupted rotation finished)" : "",
			     rr.dek_version);
	return report(&ctx, r);
}

static const char rebind_help[] =
	"Binds the volume's stored DEK to the pool (and namespace) the volume is in now, after\n"
	"checking that the DEK opens the volume's LUKS2 header; the DEK itself does not\n"
	"change. Needed once for volumes made before key binding (their DEK is bound to the\n"
	"UUID only; a DEK rotation of a wrapped one binds it too), for a KMS-held key an\n"
	"earlier pvenc stored without an owner, and after a volume was moved or copied from\n"
	"another pool or namespace (export/import, rbd cp, rbd migration): such a volume does\n"
	"not open until an operator rebinds it. A KMS-held key becomes this image's own.\n\n"
	"Options:\n"
	"      --from POOL[/NS]   the pool (and namespace) the volume was bound to before\n\n";

int cmd_rebind(int argc, char **argv)
{
	struct rebind_result rr = { 0 };

	PREPARE("rebind", O_FROM, 1, 1, rebind_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	r = vol_target(&ctx, a.pos[0], &v);
	if (r == 0)
		r = volume_rebind(&ctx, &v, a.from, &rr);
	if (r == 0 && rr.changed) {
		char safe[4 * sizeof(rr.was)];

		log_escape(rr.was, safe, sizeof(safe));
		(void)printf("%s: bound to its pool now (was: %s)\n", a.pos[0], safe);
	} else if (r == 0)
		(void)printf("%s: bound to its pool already\n", a.pos[0]);
	return report(&ctx, r);
}

static const char verify_help[] =
	"Checks that a volume (mapped or not) would open, without activating anything: its\n"
	"metadata, its KMS, its DEK and the LUKS2 keyslot the DEK opens. One line per\n"
	"volume, and Nagios' exit codes: 0 OK, 1 WARNING (opens, but needs attention), 2\n"
	"CRITICAL (would not open), 3 UNKNOWN (could not check). --all checks every\n"
	"encrypted image of the cluster (every pool and namespace; plain images are left\n"
	"out), ends with a count and exits with the worst verdict. Run it before a\n"
	"credential change, a KMS migration or a reboot.\n\n"
	"Options:\n"
	"      --all              every encrypted image of the cluster\n"
	"      --kms ID           ceph-csi volumes: the KMS id (else ceph-csi's journal)\n"
	"      --csi-volume-id ID ceph-csi volumes: the CSI volume handle (else derived)\n\n";

static const char *const verify_level[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

/* One volume's line; its level (3: could not check). Plain images: -1 when @skip_plain. */
static int verify_one(struct pvenc_ctx *ctx, const char *target, const struct open_opts *oo,
		      int skip_plain)
{
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	struct verify_result vr = { 0 };
	char safe[4 * sizeof(vr.what)];
	int r, level;

	ctx->err[0] = '\0';
	r = vol_target(ctx, target, &v);
	if (r == 0)
		r = volume_verify(ctx, &v, oo, &vr);
	if (r == 0 && vr.plain && skip_plain)
		return -1;
	level = r < 0 ? 3 : vr.level;
	/* One line per volume, whatever the KMS's answer quoted in it holds. */
	log_escape(r < 0 ? (ctx->err[0] ? ctx->err : strerror(-r)) : vr.what, safe, sizeof(safe));
	(void)printf("%s: %s: %s\n", target, verify_level[level], safe);
	return level;
}

int cmd_verify(int argc, char **argv)
{
	_cleanup_free_ struct image_spec *specs = NULL;
	struct open_opts oo = { 0 };
	size_t n = 0, odd = 0, count[4] = { 0 };
	int worst = 0;

	PREPARE("verify", O_KMS | O_CSI_VOLUME_ID | O_ALL, 0, 1, verify_help);
	oo.kms_id = a.kms;
	oo.csi_volume_id = a.csi_volume_id;
	if (a.all == (a.npos == 1)) {
		cmd_usage(stderr, "verify", verify_help);
		return EXIT_USAGE;
	}
	if (!a.all)
		return verify_one(&ctx, a.pos[0], &oo, 0);
	r = volume_list_images(&ctx, &specs, &n, &odd);
	if (r < 0) {
		(void)printf("all volumes: UNKNOWN: %s\n", ctx.err);
		return 3;
	}
	for (size_t i = 0; i < n; i++) {
		char name[SPEC_STR_MAX];
		int level;

		(void)image_spec_format(&specs[i], name, sizeof(name));
		level = verify_one(&ctx, name, &oo, 1);
		if (level < 0)
			continue;
		count[level]++;
		/* Nagios: CRITICAL is the worst, then UNKNOWN, then WARNING. */
		if (level == 2 || (level == 3 && worst != 2) || (level == 1 && worst == 0))
			worst = level;
	}
	(void)printf("%zu volumes: %zu ok, %zu warning, %zu critical, %zu unknown%s\n",
		     count[0] + count[1] + count[2] + count[3], count[0], count[1], count[2],
		     count[3], odd ? " (images with names pvenc cannot handle left out)" : "");
	return worst;
}
