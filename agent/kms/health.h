/* SPDX-License-Identifier: MIT */
/*
 * Each KMS entry's health as the agent sees it: when an operation on it last worked and
 * last failed (and why), and for Vault how long its token has left. Process-wide; the
 * agent's control socket answers it ("health") and pvenc-stat exports it to Prometheus.
 */
#ifndef PVENC_KMS_HEALTH_H
#define PVENC_KMS_HEALTH_H

#include <json-c/json.h>

struct kms;

/* Records the outcome @r of a KMS operation on @k (its error text when r < 0) and
 * returns @r. A key the KMS does not have (-ENOENT, -ENOKEY) is an answer, not a
 * failure. */
int kms_health_note(const struct kms *k, int r);
/* Records a failure @r on @k whatever it is (setting up the entry failed: a missing key
 * file is a failure there); returns @r. */
int kms_health_fail(const struct kms *k, int r);
/* Where KMS entry @id's token time-to-live comes from: @ttl(@arg) gives seconds left,
 * or -1 for a token that does not expire or is not known. @arg lives as long as the
 * process. */
void kms_health_ttl_source(const char *id, long (*ttl)(const void *arg), const void *arg);
/* [{"kms", "last_success", "last_failure", "last_error", "token_ttl_s"}...]: the entries
 * used since the process started; times are seconds since the epoch, 0 never. */
struct json_object *kms_health_json(void);
/* Forgets everything (tests, process exit). */
void kms_health_reset(void);

#endif
