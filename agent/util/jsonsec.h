/* SPDX-License-Identifier: MIT */
/*
 * json-c for documents that carry secrets (KMS responses with unwrapped keys, login
 * responses with tokens): parse strictly, and wipe every string and the parser's
 * scratch buffer before the memory goes back to the allocator.
 */
#ifndef PVENC_UTIL_JSONSEC_H
#define PVENC_UTIL_JSONSEC_H

#include <json-c/json.h>
#include <stddef.h>

/* Parses exactly @len bytes as one JSON value (depth ≤ 32); NULL on any error. */
struct json_object *json_parse_secret(const char *buf, size_t len);
/* Wipes all strings in @o (recursively), then drops the reference. NULL is fine. */
void json_put_wipe(struct json_object *o);
static inline void json_put_wipep(struct json_object **o)
{
	json_put_wipe(*o);
}
#define _cleanup_json_wipe_ __attribute__((cleanup(json_put_wipep)))

/* Serialises @o (plain) into secret memory; NULL on ENOMEM. The caller secmem_free()s. */
char *json_to_secret(struct json_object *o, size_t *len);

/* Typed field access: NULL / -1 when absent or of another type. */
const char *jget_str(struct json_object *o, const char *key);
struct json_object *jget_obj(struct json_object *o, const char *key);
/* 1/0 for a JSON boolean, -1 otherwise. */
int jget_bool(struct json_object *o, const char *key);
/* Integer (JSON number without fraction); -1 when absent or negative. */
long long jget_int(struct json_object *o, const char *key);

#endif
