/* SPDX-License-Identifier: MIT */
/*
 * What the cloud KMSes answer, taken apart (aws.c, ibmkp.c, azure*.c): their error
 * bodies and their OAuth token answers. Whoever answers on the configured endpoint
 * controls these bytes: every value is bounded and checked here, and fuzzed
 * (tests/fuzz/fuzz-cloud-resp.c).
 */
#ifndef PVENC_KMS_CLOUDRESP_H
#define PVENC_KMS_CLOUDRESP_H

#include <json-c/json.h>
#include <stddef.h>
#include <time.h>

/* AWS's error type ({"__type": "[namespace#]Type"}) without the namespace; "" if none. */
const char *aws_error_type(struct json_object *o);
/* Key Protect's error ({"resources": [{"errorMsg", "reasons": [{"code"}]}]}) as
 * "CODE: message" into @buf. */
void kp_error_text(struct json_object *o, char *buf, size_t len);
/* Key Vault's error ({"error": {"code", "message"}}) as "code: message" into @buf. */
void az_error_text(struct json_object *o, char *buf, size_t len);
/* An OAuth answer {"access_token", "token_type": "Bearer", "expires_in"} (IAM, Azure
 * AD): 0 with *tok = "Bearer <token>" (secmem) and *expires (at most a day on), or
 * -EBADMSG. */
int bearer_token(struct json_object *o, char **tok, time_t *expires);

#endif
