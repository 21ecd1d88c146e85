/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * pvenc: the one ABI header shared by pvenc.ko and the userspace agent.
 *
 * The module registers the generic-netlink family PVENC_GENL_NAME at
 * PVENC_GENL_VERSION and exposes /sys/kernel/pvenc/. Attributes and commands are
 * only ever appended; userspace checks the family version before use.
 */
#ifndef _UAPI_LINUX_PVENC_H
#define _UAPI_LINUX_PVENC_H

#define PVENC_GENL_NAME "pvenc"
#define PVENC_GENL_VERSION 1

/* sysfs root of the module: /sys/kernel/pvenc */
#define PVENC_SYSFS_NAME "pvenc"

#endif /* _UAPI_LINUX_PVENC_H */
