/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * pvenc: the one ABI header shared by pvenc.ko and the userspace agent.
 *
 * The module registers the generic-netlink family PVENC_GENL_NAME at
 * PVENC_GENL_VERSION and exposes /sys/kernel/pvenc/volumes/<name>/ (one value per
 * file, Documentation/kmod.md). Commands and attributes are only ever appended;
 * userspace checks the family version before use.
 *
 * PVENC_CMD_REGISTER (CAP_NET_ADMIN)
 *   NAME, DEV and the identity attributes. Registering a NAME again replaces its
 *   identity; an OPENED_AT of 0 keeps the time already recorded.
 * PVENC_CMD_UNREGISTER (CAP_NET_ADMIN)
 *   NAME. -ENOENT if it is not registered.
 * PVENC_CMD_GET (dump)
 *   One message per volume: NAME, DEV, identity and, nested in STATS, the counters.
 *   A volume whose device is gone has no STATS.
 */
#ifndef _UAPI_LINUX_PVENC_H
#define _UAPI_LINUX_PVENC_H

#define PVENC_GENL_NAME	   "pvenc"
#define PVENC_GENL_VERSION 2

/* sysfs root of the module: /sys/kernel/pvenc */
#define PVENC_SYSFS_NAME "pvenc"

/* NAME: the device-mapper name, [A-Za-z0-9._@+-], this many bytes at most. */
#define PVENC_NAME_MAX 127
/* POOL, NAMESPACE, IMAGE, IMAGE_ID, CIPHER, KMS: printable, this many bytes at most. */
#define PVENC_TEXT_MAX 255

enum pvenc_cmd {
	PVENC_CMD_UNSPEC,
	PVENC_CMD_REGISTER,
	PVENC_CMD_UNREGISTER,
	PVENC_CMD_GET,
	__PVENC_CMD_MAX,
};
#define PVENC_CMD_MAX (__PVENC_CMD_MAX - 1)

enum pvenc_attr {
	PVENC_A_UNSPEC,
	PVENC_A_NAME, /* string */
	PVENC_A_DEV, /* u32: the dm device, new_encode_dev(major, minor) */
	PVENC_A_POOL, /* string */
	PVENC_A_NAMESPACE, /* string, "" for none */
	PVENC_A_IMAGE, /* string (with @snap for snapshots) */
	PVENC_A_IMAGE_ID, /* string */
	PVENC_A_CIPHER, /* string, e.g. aes-xts-plain64 */
	PVENC_A_KEY_BITS, /* u32 */
	PVENC_A_SECTOR_SIZE, /* u32 */
	PVENC_A_KMS, /* string: the KMS id */
	PVENC_A_KEY_VERSION, /* u32 */
	PVENC_A_OPENED_AT, /* u64: seconds since the epoch */
	PVENC_A_STATS, /* nested: PVENC_S_* */
	PVENC_A_PAD,
	PVENC_A_DEK_VERSION, /* u32: DEK generation, +1 per DEK rotation */
	PVENC_A_ROTATED_AT, /* u64: last DEK rotation, seconds since the epoch; 0 never */
	__PVENC_A_MAX,
};
#define PVENC_A_MAX (__PVENC_A_MAX - 1)

/* Counters measured by the block layer (and, for errors, pvenc.ko) for the dm device
 * since it was created; errors since the volume was registered. All u64. */
enum pvenc_stat {
	PVENC_S_UNSPEC,
	PVENC_S_READS, /* completed read requests */
	PVENC_S_WRITES,
	PVENC_S_READ_BYTES, /* bytes read, i.e. decrypted */
	PVENC_S_WRITE_BYTES, /* bytes written, i.e. encrypted */
	PVENC_S_DISCARDS,
	PVENC_S_DISCARD_BYTES,
	PVENC_S_FLUSHES,
	PVENC_S_IN_FLIGHT,
	PVENC_S_ERRORS, /* requests completed with an error */
	PVENC_S_READ_NS, /* time spent in reads, summed over requests */
	PVENC_S_WRITE_NS,
	PVENC_S_DISCARD_NS,
	PVENC_S_FLUSH_NS,
	PVENC_S_BUSY_MS, /* time the device had I/O in flight */
	/* Netlink padding for the u64s, not a counter; new counters go before it. */
	PVENC_S_PAD,
	__PVENC_S_MAX,
};
#define PVENC_S_MAX (__PVENC_S_MAX - 1)
/* The counters are [PVENC_S_COUNTERS_BEGIN, PVENC_S_COUNTERS_END). */
#define PVENC_S_COUNTERS_BEGIN PVENC_S_READS
#define PVENC_S_COUNTERS_END   PVENC_S_PAD

#endif /* _UAPI_LINUX_PVENC_H */
