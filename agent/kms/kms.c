// SPDX-License-Identifier: MIT
#include "kms/kms.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/fileio.h"
#include "util/secmem.h"

/* Type names: pvenc's, plus ceph-csi's encryptionKMSType values that mean the same. */
static const struct {
	const char *name;
	const struct kms_ops *ops;
} kms_types[] = {
	{ "keyfile", &kms_keyfile_ops },
	{ "passphrase-metadata", &kms_passphrase_ops },
	{ "metadata", &kms_passphrase_ops },
};

int kms_fail(struct kms *k, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(k->error, sizeof(k->error), fmt, ap);
	va_end(ap);
	return r;
}

const char *kms_cfg_str(struct json_object *cfg, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int set_err(char *err, size_t len, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t len, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		(void)vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

int kms_open(const char *config_path, const char *id, struct kms **ret, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	struct json_object *root = NULL, *entry, *tv;
	const struct kms_ops *ops = NULL;
	struct json_tokener *tok = NULL;
	struct kms *k = NULL;
	const char *type;
	size_t len;
	int r;

	if (!config_path)
		config_path = PVENC_KMS_CONFIG_DEFAULT;
	r = read_file(config_path, 1 << 20, &text, &len);
	if (r < 0)
		return set_err(err, errlen, r, "cannot read KMS config %s: %s", config_path,
			       strerror(-r));
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, text, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len || !json_object_is_type(root, json_type_object)) {
		r = set_err(err, errlen, -EINVAL, "KMS config %s is not a JSON object: %s",
			    config_path, json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!json_object_object_get_ex(root, id, &entry) ||
	    !json_object_is_type(entry, json_type_object)) {
		r = set_err(err, errlen, -ENOENT, "KMS id '%s' is not in %s", id, config_path);
		goto out;
	}
	/* ceph-csi names the type encryptionKMSType (or KMS_PROVIDER). */
	type = kms_cfg_str(entry, "encryptionKMSType");
	if (!type)
		type = kms_cfg_str(entry, "KMS_PROVIDER");
	if (!type) {
		r = set_err(err, errlen, -EINVAL, "KMS '%s' in %s has no encryptionKMSType", id,
			    config_path);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(kms_types); i++)
		if (!strcmp(type, kms_types[i].name))
			ops = kms_types[i].ops;
	if (!ops) {
		r = set_err(err, errlen, -EOPNOTSUPP,
			    "KMS '%s': type '%s' is not supported (supported: keyfile, "
			    "passphrase-metadata or metadata)",
			    id, type);
		goto out;
	}
	(void)tv;
	k = calloc(1, sizeof(*k));
	if (!k || !(k->id = strdup(id))) {
		r = -ENOMEM;
		goto out;
	}
	k->ops = ops;
	r = ops->init(k, entry);
	if (r < 0) {
		r = set_err(err, errlen, r, "KMS '%s' (%s): %s", id, type,
			    k->error[0] ? k->error : strerror(-r));
		goto out;
	}
	*ret = TAKE_PTR(k);
	r = 0;
out:
	kms_free(k);
	json_object_put(root);
	json_tokener_free(tok);
	return r;
}

void kms_free(struct kms *k)
{
	if (!k)
		return;
	if (k->ops && k->ops->free)
		k->ops->free(k);
	free(k->id);
	free(k->endpoint);
	free(k);
}

int kms_is_envelope(const struct kms *k)
{
	return k->ops->wrap != NULL;
}

int kms_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
	     char **wrapped)
{
	k->error[0] = '\0';
	if (!k->ops->wrap)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s does not wrap keys", k->ops->type);
	return k->ops->wrap(k, b, dek, len, wrapped);
}

int kms_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped, uint8_t **dek,
	       size_t *len)
{
	k->error[0] = '\0';
	if (!k->ops->unwrap)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s does not unwrap keys", k->ops->type);
	return k->ops->unwrap(k, b, wrapped, dek, len);
}
