// SPDX-License-Identifier: MIT
#include "crypt/probe.h"

#include <blkid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/macro.h"

int probe_region(const uint8_t *buf, size_t len, struct probe_result *res)
{
	_cleanup_close_ int fd = -1;
	blkid_probe pr = NULL;
	const char *v;
	size_t z = len < PROBE_ZERO_CHECK ? len : PROBE_ZERO_CHECK;
	int r;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < z; i++)
		if (buf[i]) {
			res->nonzero = 1;
			break;
		}
	/* libblkid probes a file descriptor: give it the bytes in a memfd. */
	fd = memfd_create("pvenc-probe", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, len, 0) != (ssize_t)len)
		return -EIO;
	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	r = blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)len);
	if (r == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
		blkid_probe_enable_partitions(pr, 1);
		r = blkid_do_safeprobe(pr);
		if (r == 0) {
			/* A filesystem or other superblock, else a partition table. */
			if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 ||
			    blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0)
				(void)snprintf(res->type, sizeof(res->type), "%s", v);
			if (blkid_probe_lookup_value(pr, "USAGE", &v, NULL) == 0)
				(void)snprintf(res->usage, sizeof(res->usage), "%s", v);
		} else if (r == -2) { /* ambivalent: several signatures */
			(void)snprintf(res->type, sizeof(res->type), "ambivalent");
		}
		r = r < 0 && r != -2 ? -EIO : 0;
	} else {
		r = -EIO;
	}
	blkid_free_probe(pr);
	return r;
}
