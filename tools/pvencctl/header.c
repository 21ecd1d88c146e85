// SPDX-License-Identifier: MIT
/* pvencctl header backup|restore: the LUKS2 header with its key metadata, to a file and
 * back (volume/backup.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pvencctl.h"
#include "util/log.h"
#include "util/macro.h"

static const char header_help[] =
	"backup: writes the volume's LUKS2 header (its first 16 MiB) and its key metadata of\n"
	"the same moment to FILE (a new file, mode 0600). The volume must open now (as\n"
	"verify checks); it may be open and in use. Take a new backup after each DEK\n"
	"rotation: header and metadata change together.\n"
	"restore: puts a backup back after a mistaken mkfs on /dev/rbdN or a lost header.\n"
	"Only onto the image it was taken of (same image id and pool), unmapped on every\n"
	"node, and only if the DEK its metadata names opens its header.\n\n"
	"Options:\n" HELP_CSI_OPTS
	"      --dry-run          restore: check everything, write nothing\n\n";

int cmd_header(int argc, char **argv)
{
	struct open_opts oo = { 0 };
	struct dry_run dry = { "" };
	_cleanup_close_ int fd = -1;
	int backup;

	PREPARE("header", O_KMS | O_CSI_VOLUME_ID | O_DRY_RUN, 3, 3, header_help);
	_cleanup_vol_ struct vol v = { .dev.id = -1 };
	backup = !strcmp(a.pos[0], "backup");
	if ((!backup && strcmp(a.pos[0], "restore") != 0) || (backup && a.dry_run)) {
		cmd_usage(stderr, "header", header_help);
		return EXIT_USAGE;
	}
	oo.kms_id = a.kms;
	oo.csi_volume_id = a.csi_volume_id;
	r = vol_target(&ctx, a.pos[1], &v);
	if (r < 0)
		return report(&ctx, r);
	/* A backup never replaces a file: an older backup may be the one that works. */
	fd = backup ? open(a.pos[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)
		    : open(a.pos[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_error("cannot %s %s: %s", backup ? "create the backup file" : "read the backup",
			  a.pos[2],
			  r == -EEXIST ? "it exists (pvenc never overwrites a backup)"
				       : strerror(-r));
		return errno_to_exit(r);
	}
	if (backup) {
		r = volume_header_backup(&ctx, &v, fd);
		if (r < 0)
			(void)unlink(a.pos[2]);
		else
			(void)printf("backed up the header and key metadata of %s to %s\n",
				     a.pos[1], a.pos[2]);
		return report(&ctx, r);
	}
	r = volume_header_restore(&ctx, &v, fd, &oo, a.dry_run ? &dry : NULL);
	if (r == 0 && a.dry_run)
		(void)printf("dry run: %s\n", dry.text);
	else if (r == 0)
		(void)printf("restored the header and key metadata of %s from %s\n", a.pos[1],
			     a.pos[2]);
	return report(&ctx, r);
}
