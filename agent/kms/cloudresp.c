// SPDX-License-Identifier: MIT
#include "kms/cloudresp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/jsonsec.h"
#include "util/secmem.h"

#define TOKEN_MAX 16384

const char *aws_error_type(struct json_object *o)
{
	const char *t = jget_str(o, "__type"), *h;

	if (!t)
		return "";
	h = strrchr(t, '#');
	return h ? h + 1 : t;
}

static struct json_object *first(struct json_object *o, const char *key)
{
	struct json_object *arr = NULL;

	if (!json_object_object_get_ex(o, key, &arr) ||
	    !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0)
		return NULL;
	return json_object_array_get_idx(arr, 0);
}

void kp_error_text(struct json_object *o, char *buf, size_t len)
{
	struct json_object *r0 = first(o, "resources");
	const char *msg = jget_str(r0, "errorMsg"), *code = jget_str(first(r0, "reasons"), "code");

	(void)snprintf(buf, len, "%.60s%s%.200s", code ? code : "no reason code", msg ? ": " : "",
		       msg ? msg : "");
}

void az_error_text(struct json_object *o, char *buf, size_t len)
{
	struct json_object *e = jget_obj(o, "error");
	const char *code = jget_str(e, "code"), *msg = jget_str(e, "message");

	(void)snprintf(buf, len, "%.60s%s%.200s", code ? code : "no error code", msg ? ": " : "",
		       msg ? msg : "");
}

int bearer_token(struct json_object *o, char **tok, time_t *expires)
{
	const char *at = jget_str(o, "access_token"), *tt = jget_str(o, "token_type");
	long long in = jget_int(o, "expires_in");
	size_t n = at ? strlen(at) : 0;

	*tok = NULL;
	if (!n || n > TOKEN_MAX || strcspn(at, " \r\n\t\"") != n || !tt ||
	    strcasecmp(tt, "Bearer") != 0 || in <= 0)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)at[i] < 0x21 || (unsigned char)at[i] > 0x7e)
			return -EBADMSG;
	*tok = secmem_alloc(n + sizeof("Bearer "));
	if (!*tok)
		return -ENOMEM;
	(void)snprintf(*tok, n + sizeof("Bearer "), "Bearer %s", at);
	*expires = time(NULL) + (time_t)(in > 86400 ? 86400 : in);
	return 0;
}
