// SPDX-License-Identifier: MIT
#include "volume/kstat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "crypt/luks.h"
#include "kms/kms.h"
#include "util/log.h"

static void report(int r, const char *what, const char *dm)
{
	/* No module, or one too old for us: stats are optional. */
	if (r == -ENOENT || r == -EPROTO)
		log_debug("dm=%s event=kstat-%s skipped=%s", dm, what,
			  r == -ENOENT ? "no-module" : "old-module");
	else if (r < 0)
		log_warn("dm=%s event=kstat-%s error=\"%s\"", dm, what, strerror(-r));
}

void kstat_volume_opened(const struct krbd_dev *d, const char *dm, const char *kms,
			 const struct vol_meta *m, int already, struct kvol *out)
{
	struct luks_status ls;
	struct stat st;
	char path[160];

	memset(out, 0, sizeof(*out));
	(void)snprintf(out->name, sizeof(out->name), "%s", dm);
	(void)snprintf(path, sizeof(path), "/dev/mapper/%s", dm);
	if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
		report(-ENODEV, "register", dm);
		return;
	}
	out->dev_major = major(st.st_rdev);
	out->dev_minor = minor(st.st_rdev);
	(void)snprintf(out->pool, sizeof(out->pool), "%s", d->spec.pool);
	(void)snprintf(out->namespace, sizeof(out->namespace), "%s", d->spec.ns);
	/* IMAGE@SNAP may exceed the module's limit; the image id stays exact. */
	if (snprintf(out->image, sizeof(out->image), "%s%s%s", d->spec.image,
		     d->spec.snap[0] ? "@" : "", d->spec.snap) >= (int)sizeof(out->image))
		log_debug("dm=%s event=kstat-image-truncated", dm);
	(void)snprintf(out->image_id, sizeof(out->image_id), "%s", d->image_id);
	(void)snprintf(out->kms, sizeof(out->kms), "%s", kms ? kms : "");
	if (luks_status(dm, &ls) > 0) {
		(void)snprintf(out->cipher, sizeof(out->cipher), "%s", ls.cipher);
		out->key_bits = (uint32_t)ls.key_bits;
		out->sector_size = (uint32_t)ls.sector_size;
	}
	out->key_version = kms_key_version(m->dek);
	out->dek_version = m->dek_version ? m->dek_version : 1;
	out->rotated_at = m->rotated_at > 0 ? (uint64_t)m->rotated_at : 0;
	out->opened_at = already ? 0 : (uint64_t)time(NULL);
	report(kmodnl_register(out), "register", dm);
}

void kstat_volume_closed(const char *dm)
{
	int r = kmodnl_unregister(dm);

	/* Not registered (opened before the module, or by an older pvenc): fine. */
	if (r == -ENOENT)
		r = 0;
	report(r, "unregister", dm);
}
