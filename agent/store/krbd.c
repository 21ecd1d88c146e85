// SPDX-License-Identifier: MIT
#include "store/krbd.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/fileio.h"

static int attr(int id, const char *name, char *buf, size_t len)
{
	char p[128];

	(void)snprintf(p, sizeof(p), RBD_SYSFS "/%d/%s", id, name);
	return read_line(p, buf, len);
}

int krbd_dev_from_id(int id, struct krbd_dev *d)
{
	char snap[SPEC_NAME_MAX + 1];
	int r;

	memset(d, 0, sizeof(*d));
	d->id = id;
	(void)snprintf(d->path, sizeof(d->path), "/dev/rbd%d", id);
	if ((r = attr(id, "pool", d->spec.pool, sizeof(d->spec.pool))) < 0 ||
	    (r = attr(id, "name", d->spec.image, sizeof(d->spec.image))) < 0 ||
	    (r = attr(id, "image_id", d->image_id, sizeof(d->image_id))) < 0 ||
	    (r = attr(id, "current_snap", snap, sizeof(snap))) < 0)
		return r == -ENOENT ? -ENODEV : r;
	if ((r = attr(id, "pool_id", d->pool_id, sizeof(d->pool_id))) < 0 ||
	    (r = attr(id, "cluster_fsid", d->fsid, sizeof(d->fsid))) < 0)
		return r == -ENOENT ? -ENODEV : r;
	/* pool_ns exists since Linux 5.0; absent means the default namespace. */
	if (attr(id, "pool_ns", d->spec.ns, sizeof(d->spec.ns)) < 0)
		d->spec.ns[0] = '\0';
	if (strcmp(snap, "-") != 0)
		(void)snprintf(d->spec.snap, sizeof(d->spec.snap), "%s", snap);
	/* Whoever can write to the pool names its images: a name that is no valid spec
	 * part (a space, a newline, "..") would become two udev symlinks, a path outside
	 * /dev/pvenc or a forged log line. Such a device is none of pvenc's. */
	if (image_spec_check_name(d->spec.pool, strlen(d->spec.pool)) < 0 ||
	    image_spec_check_name(d->spec.image, strlen(d->spec.image)) < 0 ||
	    (d->spec.ns[0] && image_spec_check_name(d->spec.ns, strlen(d->spec.ns)) < 0) ||
	    (d->spec.snap[0] && image_spec_check_name(d->spec.snap, strlen(d->spec.snap)) < 0))
		return -EINVAL;
	return 0;
}

int krbd_dev_from_path(const char *path, struct krbd_dev *d)
{
	char link[PATH_MAX], sys[64];
	struct stat st;
	const char *base;
	char *end;
	ssize_t n;
	long id;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENODEV;
	(void)snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(st.st_rdev),
		       minor(st.st_rdev));
	n = readlink(sys, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strncmp(base, "rbd", 3) != 0)
		return -ENODEV;
	errno = 0;
	id = strtol(base + 3, &end, 10);
	if (errno || end == base + 3 || *end != '\0' || id < 0 || id > INT_MAX)
		return -ENODEV; /* a partition (rbd0p1) or something else */
	return krbd_dev_from_id((int)id, d);
}

static int cmp_dev(const void *a, const void *b)
{
	const struct krbd_dev *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

int krbd_dev_list(struct krbd_dev **devs, size_t *n)
{
	struct krbd_dev *arr = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *dir = opendir(RBD_SYSFS);

	*devs = NULL;
	*n = 0;
	if (!dir)
		return errno == ENOENT ? 0 : -errno; /* rbd module not loaded: none mapped */
	while ((de = readdir(dir))) {
		char *end;
		long id = strtol(de->d_name, &end, 10);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end)
			continue;
		if (cnt == cap) {
			struct krbd_dev *na = realloc(arr, (cap ? cap * 2 : 16) * sizeof(*arr));

			if (!na) {
				free(arr);
				closedir(dir);
				return -ENOMEM;
			}
			arr = na;
			cap = cap ? cap * 2 : 16;
		}
		if (krbd_dev_from_id((int)id, &arr[cnt]) == 0)
			cnt++;
	}
	closedir(dir);
	if (cnt)
		qsort(arr, cnt, sizeof(*arr), cmp_dev);
	*devs = arr;
	*n = cnt;
	return 0;
}

int krbd_dev_find(const struct image_spec *spec, struct krbd_dev *d)
{
	struct krbd_dev *devs;
	size_t n;
	int r = krbd_dev_list(&devs, &n);

	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		const struct image_spec *s = &devs[i].spec;

		if (!strcmp(s->pool, spec->pool) && !strcmp(s->ns, spec->ns) &&
		    !strcmp(s->image, spec->image) && !strcmp(s->snap, spec->snap)) {
			*d = devs[i];
			r = 0;
			break;
		}
	}
	free(devs);
	return r;
}

static int dm_name(const char *fmt_hash, const struct krbd_dev *d, char *buf, size_t len)
{
	size_t max = len < 128 ? len : 128;
	int n = snprintf(buf, max, "pvenc-%s%s%s%s", d->image_id, fmt_hash,
			 d->spec.snap[0] ? "@" : "", d->spec.snap);

	/* device-mapper names are at most 127 bytes and may not contain '/'. */
	if (n < 0 || (size_t)n >= max || strchr(d->image_id, '/'))
		return -ENAMETOOLONG;
	return 0;
}

int krbd_dm_name(const struct krbd_dev *d, char *buf, size_t len)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char where[sizeof(d->fsid) + sizeof(d->pool_id) + sizeof(d->spec.ns) + 2], hash[18];
	int n;

	/* NUL-separated: no two (fsid, pool id, namespace) triples give the same input. */
	n = snprintf(where, sizeof(where), "%s%c%s%c%s", d->fsid, 0, d->pool_id, 0, d->spec.ns);
	if (n < 0 || (size_t)n >= sizeof(where) ||
	    EVP_Digest(where, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8)
		return -EINVAL;
	hash[0] = '-';
	for (int i = 0; i < 8; i++)
		(void)snprintf(hash + 1 + (size_t)2 * i, 3, "%02x", md[i]);
	return dm_name(hash, d, buf, len);
}

int krbd_dm_name_legacy(const struct krbd_dev *d, char *buf, size_t len)
{
	return dm_name("", d, buf, len);
}
