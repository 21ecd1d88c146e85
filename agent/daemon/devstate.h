/* SPDX-License-Identifier: MIT */
/*
 * The agent's view of each device (state, attempts, last error, since when) kept in a
 * file under its runtime directory, so that a restarted agent still says why a volume
 * did not open before it has tried again. /run: it lives as long as the mappings do.
 */
#ifndef PVENC_DAEMON_DEVSTATE_H
#define PVENC_DAEMON_DEVSTATE_H

#include "daemon/devtable.h"

/* Writes every device of @t to @path (mode 0600), atomically. */
int devstate_save(const struct devtable *t, const char *path);
/* Gives each device already in @t (its id and image set) what @path says of the same
 * device holding the same image: last error, attempts, since and, for a volume that was
 * retrying or had failed, that state. A missing file is no error; one that does not
 * parse is ignored (-EBADMSG), entries that do not match are skipped. */
int devstate_load(struct devtable *t, const char *path);

#endif
