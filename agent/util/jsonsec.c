// SPDX-License-Identifier: MIT
#include "util/jsonsec.h"

#include <string.h>

#include "util/secmem.h"

#define JSON_MAX_DEPTH 32

struct json_object *json_parse_secret(const char *buf, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > (size_t)__INT_MAX__)
		return NULL;
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, buf, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  json_tokener_get_parse_end(tok) != len)) {
		json_put_wipe(o);
		o = NULL;
	}
	/* The tokener keeps the last string token in its scratch buffer. */
	if (tok->pb && tok->pb->buf)
		explicit_bzero(tok->pb->buf, (size_t)tok->pb->size);
	json_tokener_free(tok);
	return o;
}

static void wipe(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		explicit_bzero((char *)json_object_get_string(o),
			       (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			wipe(val);
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			wipe(json_object_array_get_idx(o, i));
		break;
	default:
		break;
	}
}

void json_put_wipe(struct json_object *o)
{
	if (!o)
		return;
	wipe(o);
	json_object_put(o);
}

char *json_to_secret(struct json_object *o, size_t *len)
{
	size_t n;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
	char *out;

	if (!s)
		return NULL;
	out = secmem_alloc(n + 1);
	if (out) {
		memcpy(out, s, n);
		*len = n;
	}
	/* json-c caches the text in the object: wipe it there. */
	explicit_bzero((char *)s, n);
	return out;
}

const char *jget_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

struct json_object *jget_obj(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

int jget_bool(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return -1;
	return json_object_get_boolean(v);
}

long long jget_int(struct json_object *o, const char *key)
{
	struct json_object *v;
	long long n;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	return n < 0 ? -1 : n;
}
