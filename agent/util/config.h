/* SPDX-License-Identifier: MIT */
/*
 * /etc/pvenc/pvenc.conf: strict INI ("[section]", "key = value", '#' comments).
 * Unknown sections or keys are errors, so typos do not silently fall back to defaults.
 * Keys (the table in config.c is the reference; Documentation/pvenc.conf.md lists them):
 *   [ceph]     conf, id
 *   [kms]      config
 *   [ceph-csi] cluster-id
 *   [open]     discards, no-read-workqueue, no-write-workqueue
 */
#ifndef PVENC_UTIL_CONFIG_H
#define PVENC_UTIL_CONFIG_H

#include <stddef.h>

#define PVENC_CONFIG_DEFAULT "/etc/pvenc/pvenc.conf"

struct pvenc_config {
	char ceph_conf[256]; /* "" = CEPH_CONF / default search path */
	char ceph_id[64]; /* "" = admin */
	char kms_config[256]; /* KMS entries (JSON) */
	char csi_cluster_id[128];
	int discards;
	int no_read_wq;
	int no_write_wq;
};

struct config_key {
	const char *section;
	const char *key;
	const char *help;
};
extern const struct config_key config_keys[];
extern const size_t config_keys_count;

void config_defaults(struct pvenc_config *c);
/* Parses @path; a missing file is fine when !@required. -EINVAL with @err on bad
 * input (file:line: reason). */
int config_load(const char *path, int required, struct pvenc_config *c, char *err, size_t errlen);
/* Parses text (exposed for tests and fuzzing). */
int config_parse(const char *text, const char *name, struct pvenc_config *c, char *err,
		 size_t errlen);

#endif
