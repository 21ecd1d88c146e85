/* SPDX-License-Identifier: MIT */
/* The ibmkeyprotect provider's shared parts (ibmkp.c: config, IAM, calls; ibmkp_ops.c:
 * wrap, unwrap, check, create-key); not a public API. */
#ifndef PVENC_KMS_IBMKP_H
#define PVENC_KMS_IBMKP_H

#include <json-c/json.h>

#include "kms/provider.h"

#define KP_URL_MAX 512
#define KP_ID_MAX  128

struct ibmkp {
	char instance[KP_ID_MAX];
	char base_url[KP_URL_MAX];
	char token_url[KP_URL_MAX];
	char crk[KP_ID_MAX]; /* the root key's id or alias; "" until made */
	char *secret_dir;
	char *api_key; /* secmem */
	char *ca_file;
	long timeout_ms;
};

int kp_init(struct kms *k, struct json_object *cfg);
void kp_free(struct kms *k);
/* Drops the process's cached IAM tokens (at exit). */
void kp_cleanup(void);
/* POST api/v2/@path (@what names it in messages) with @req, as content type @ctype:
 * 0 with a 2xx answer's JSON in *resp (NULL for an empty body), or the error with
 * k->error set. */
int kp_call(struct kms *k, struct ibmkp *p, const char *path, const char *what, const char *ctype,
	    struct json_object *req, struct json_object **resp);

#endif
