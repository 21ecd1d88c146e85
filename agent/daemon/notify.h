/* SPDX-License-Identifier: MIT */
/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (Type=notify). */
#ifndef PVENC_DAEMON_NOTIFY_H
#define PVENC_DAEMON_NOTIFY_H

/* 1 if sent, 0 if not under a notify-aware manager, <0 on error. */
int notify(const char *state);

#endif
