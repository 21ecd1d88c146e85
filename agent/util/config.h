/* SPDX-License-Identifier: MIT */
/*
 * /etc/pvenc/pvenc.conf: strict INI ("[section]", "key = value", '#' comments).
 * Unknown sections or keys are errors, so typos do not silently fall back to defaults.
 * Keys (the table in config.c is the reference; Documentation/pvenc.conf.md lists them):
 *   [ceph]     conf, id
 *   [kms]      config
 *   [ceph-csi] cluster-id
 *   [open]     discards, no-read-workqueue, no-write-workqueue
 *   [agent]    socket, jobs, retry-max, retry-limit
 *   [encrypt-by-default]  POOL/NAMESPACE-glob = KMS id [dry-run]   (any number, first
 *                         match wins; dry-run: log what would be formatted, do nothing)
 *   [rotation] schedule, precedence, image-minimum, check-interval
 *   [rotation-schedule]   POOL or POOL/NAMESPACE = schedule (util/schedule.h)
 */
#ifndef PVENC_UTIL_CONFIG_H
#define PVENC_UTIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define PVENC_CONFIG_DEFAULT "/etc/pvenc/pvenc.conf"
#define PVENC_SOCKET_DEFAULT "/run/pvenc/control"

struct pvenc_config {
	char ceph_conf[256]; /* "" = CEPH_CONF / default search path */
	char ceph_id[64]; /* "" = admin */
	char kms_config[256]; /* KMS entries (JSON) */
	char csi_cluster_id[128];
	int discards;
	int no_read_wq;
	int no_write_wq;
	char agent_socket[108];
	int jobs; /* concurrent volume operations in the agent */
	int retry_max; /* longest backoff between retries, seconds */
	int retry_limit; /* attempts before giving up (0 = keep retrying) */
	struct {
		char glob[256];
		char kms[128];
		int dry_run; /* "ID dry-run": log what would be formatted, format nothing */
	} policy[32];
	int npolicy;
	/* key rotation (Documentation/rotation.md) */
	char rotation[32]; /* global schedule, "off" by default */
	int rotation_config_first; /* precedence: config before image metadata */
	int64_t rotation_image_min_s; /* floor of a schedule from image metadata, 0 none */
	int rotation_check_s; /* how often the agent looks for due rotations */
	struct {
		char where[256]; /* POOL or POOL/NAMESPACE */
		char schedule[32];
	} rotation_at[64];
	int nrotation_at;
};

/* The schedule that applies to an image: @image_schedule is its pvenc.rotation
 * metadata (NULL if none). Precedence image > namespace > pool > global, or with
 * "precedence = config": namespace > pool > global > image. *source says which. */
const char *config_rotation(const struct pvenc_config *c, const char *pool, const char *ns,
			    const char *image_schedule, const char **source);

/* KMS id of the first encrypt-by-default entry matching POOL/NAMESPACE, or NULL;
 * *dry_run (if given) says whether that entry only logs what it would format. */
const char *config_policy_kms(const struct pvenc_config *c, const char *pool, const char *ns,
			      int *dry_run);

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
