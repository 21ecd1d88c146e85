/* SPDX-License-Identifier: MIT */
/*
 * Registering open volumes with pvenc.ko (kmod/, Documentation/kmod.md). Best effort:
 * without the module nothing happens, and a failure never fails an open or close.
 */
#ifndef PVENC_VOLUME_KSTAT_H
#define PVENC_VOLUME_KSTAT_H

#include "stats/kmodnl.h"
#include "store/rbdmeta.h"
#include "store/krbd.h"

/* Fills @out with what the module shows for the open volume @dm over @d, and
 * registers it. @m: the image's metadata (key versions, last rotation).
 * @already: the volume was open before; its opened-at time is then left to what the
 * module recorded. */
void kstat_volume_opened(const struct krbd_dev *d, const char *dm, const char *kms,
			 const struct vol_meta *m, int already, struct kvol *out);
void kstat_volume_closed(const char *dm);

#endif
