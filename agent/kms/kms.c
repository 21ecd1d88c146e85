// SPDX-License-Identifier: MIT
#include "kms/kms.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "kms/health.h"
#include "kms/provider.h"
#include "net/http.h"
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
	{ "vault-transit", &kms_vault_transit_ops },
	{ "vault-kv", &kms_vault_kv_ops },
	{ "pkcs11", &kms_pkcs11_ops },
	{ "kmip", &kms_kmip_ops },
	{ "aws-metadata", &kms_aws_ops },
	{ "aws-sts-metadata", &kms_aws_sts_ops },
	{ "ibmkeyprotect", &kms_ibmkp_ops },
	{ "azure-kv", &kms_azure_ops },
	/* ceph-csi's Vault types keep the DEK in KV: the same provider. */
	{ "vault", &kms_vault_kv_ops },
	{ "vaulttokens", &kms_vault_kv_ops },
	{ "vaulttenantsa", &kms_vault_kv_ops },
};

int kms_fail(struct kms *k, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(k->error, sizeof(k->error), fmt, ap);
	va_end(ap);
	return r;
}

int kms_set_endpoint(struct kms *k, const char *fmt, ...)
{
	va_list ap;
	int n;

	free(k->endpoint);
	va_start(ap, fmt);
	n = vasprintf(&k->endpoint, fmt, ap);
	va_end(ap);
	if (n < 0) {
		k->endpoint = NULL;
		return -ENOMEM;
	}
	return 0;
}

const char *kms_cfg_str(struct json_object *cfg, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(cfg, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int kms_cfg_list_has(struct json_object *cfg, const char *key, const char *item)
{
	struct json_object *v;
	const char *s;
	size_t n = strlen(item);

	if (!n || !json_object_object_get_ex(cfg, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *e = json_object_array_get_idx(v, i);

			if (json_object_is_type(e, json_type_string) &&
			    !strcmp(json_object_get_string(e), item))
				return 1;
		}
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return 0;
	/* "a, b,c": items separated by commas, blanks around them ignored */
	for (s = json_object_get_string(v); *s;) {
		size_t len;

		while (*s == ' ' || *s == ',')
			s++;
		len = strcspn(s, ",");
		while (len && s[len - 1] == ' ')
			len--;
		if (len == n && !strncmp(s, item, n))
			return 1;
		s += strcspn(s, ",");
	}
	return 0;
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

/* Merges the "tenants" override for @pool[/@ns] over a copy of @entry. */
static int apply_tenant(struct json_object *entry, const char *pool, const char *ns,
			struct json_object **out)
{
	struct json_object *tenants, *o, *copy = NULL;
	char key[300];

	*out = NULL;
	if (!json_object_object_get_ex(entry, "tenants", &tenants))
		return 0;
	if (!json_object_is_type(tenants, json_type_object))
		return -EINVAL;
	if (json_object_deep_copy(entry, &copy, NULL) < 0)
		return -ENOMEM;
	json_object_object_del(copy, "tenants");
	for (int pass = 0; pool && pass < 2; pass++) {
		if (pass == 0)
			(void)snprintf(key, sizeof(key), "%s", pool);
		else if (ns && ns[0])
			(void)snprintf(key, sizeof(key), "%s/%s", pool, ns);
		else
			break;
		if (!json_object_object_get_ex(tenants, key, &o))
			continue;
		if (!json_object_is_type(o, json_type_object)) {
			json_object_put(copy);
			return -EINVAL;
		}
		json_object_object_foreach(o, k, v)
		{
			json_object_object_add(copy, k, json_object_get(v));
		}
	}
	*out = copy;
	return 0;
}

/* kms.json, parsed once and again only when the file changes (another inode, size or
 * mtime): every open of every volume asks for an entry. One slot: a process uses one
 * file. The entry handed out is a deep copy, so the cached tree is only ever touched
 * under the lock (json-c's reference counts are not atomic). */
static struct {
	pthread_mutex_t lock;
	char *path;
	struct stat st;
	struct json_object *root;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int parse_config(const char *path, struct json_object **root, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	struct json_tokener *tok;
	size_t len;
	int r;

	r = read_file(path, 1 << 20, &text, &len);
	if (r < 0)
		return set_err(err, errlen, r, "cannot read KMS config %s: %s", path, strerror(-r));
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	*root = json_tokener_parse_ex(tok, text, (int)len);
	if (!*root || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len || !json_object_is_type(*root, json_type_object)) {
		r = set_err(err, errlen, -EINVAL, "KMS config %s is not a JSON object: %s", path,
			    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_object_put(*root);
		*root = NULL;
	}
	json_tokener_free(tok);
	return r;
}

static void json_object_putp(struct json_object **o)
{
	json_object_put(*o);
}

/* A private copy of entry @id of the KMS config at @path. */
static int config_entry(const char *path, const char *id, struct json_object **out, char *err,
			size_t errlen)
{
	struct json_object *entry;
	struct stat st;
	int r = 0;

	*out = NULL;
	pthread_mutex_lock(&cache.lock);
	if (stat(path, &st) < 0) {
		r = set_err(err, errlen, -errno, "cannot read KMS config %s: %s", path,
			    strerror(errno));
		goto out;
	}
	if (!cache.root || !cache.path || strcmp(cache.path, path) != 0 ||
	    !same_file(&st, &cache.st)) {
		struct json_object *root = NULL;

		r = parse_config(path, &root, err, errlen);
		if (r < 0)
			goto out;
		json_object_put(cache.root);
		free(cache.path);
		cache.root = root;
		cache.path = strdup(path);
		cache.st = st;
		if (!cache.path) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (!json_object_object_get_ex(cache.root, id, &entry) ||
	    !json_object_is_type(entry, json_type_object)) {
		r = set_err(err, errlen, -ENOENT, "KMS id '%s' is not in %s", id, path);
		goto out;
	}
	if (json_object_deep_copy(entry, out, NULL) < 0)
		r = -ENOMEM;
out:
	pthread_mutex_unlock(&cache.lock);
	return r;
}

int kms_list(const char *config_path, kms_list_fn fn, void *u, char *err, size_t errlen)
{
	_cleanup_(json_object_putp) struct json_object *root = NULL;
	int r;

	if (!config_path)
		config_path = PVENC_KMS_CONFIG_DEFAULT;
	r = parse_config(config_path, &root, err, errlen);
	if (r < 0)
		return r;
	json_object_object_foreach(root, id, entry)
	{
		struct json_object *pools;
		const char *type;
		char list[512] = "";
		size_t used = 0;

		if (!json_object_is_type(entry, json_type_object))
			continue;
		type = kms_cfg_str(entry, "encryptionKMSType");
		if (!type)
			type = kms_cfg_str(entry, "KMS_PROVIDER");
		if (json_object_object_get_ex(entry, "pools", &pools) &&
		    json_object_is_type(pools, json_type_array))
			for (size_t i = 0; i < json_object_array_length(pools); i++) {
				struct json_object *p = json_object_array_get_idx(pools, i);
				int n;

				if (!json_object_is_type(p, json_type_string))
					continue;
				n = snprintf(list + used, sizeof(list) - used, "%s%s",
					     used ? "," : "", json_object_get_string(p));
				if (n < 0 || (size_t)n >= sizeof(list) - used)
					break;
				used += (size_t)n;
			}
		fn(u, id, type, used ? list : NULL);
	}
	return 0;
}

void kms_config_forget(void)
{
	pthread_mutex_lock(&cache.lock);
	json_object_put(cache.root);
	free(cache.path);
	cache.root = NULL;
	cache.path = NULL;
	pthread_mutex_unlock(&cache.lock);
}

/* The entry's "pools" allow-list: 0 if it serves @pool/@ns (or has no list). "POOL"
 * serves every namespace of the pool, "POOL/NS" that namespace, as in Ceph's caps. */
static int serves(struct json_object *entry, const char *id, const char *pool, const char *ns,
		  char *err, size_t errlen)
{
	struct json_object *v;
	char key[2 * 256 + 2];

	if (!pool || !json_object_object_get_ex(entry, "pools", &v))
		return 0;
	if (!json_object_is_type(v, json_type_array) && !json_object_is_type(v, json_type_string))
		return set_err(err, errlen, -EINVAL,
			       "KMS '%s': \"pools\" must be a list of POOL or POOL/NS", id);
	if (kms_cfg_list_has(entry, "pools", pool))
		return 0;
	(void)snprintf(key, sizeof(key), "%s/%s", pool, ns ? ns : "");
	if (ns && ns[0] && kms_cfg_list_has(entry, "pools", key))
		return 0;
	return set_err(err, errlen, -EACCES,
		       "KMS '%s' does not serve %s%s%s (its \"pools\" list in the KMS config "
		       "leaves it out): refusing to use it for a volume there",
		       id, pool, ns && ns[0] ? "/" : "", ns && ns[0] ? ns : "");
}

int kms_open(const char *config_path, const char *id, const char *pool, const char *ns,
	     struct kms **ret, char *err, size_t errlen)
{
	struct json_object *merged = NULL, *entry = NULL, *use;
	const struct kms_ops *ops = NULL;
	struct kms *k = NULL;
	const char *type;
	int r;

	if (!config_path)
		config_path = PVENC_KMS_CONFIG_DEFAULT;
	r = config_entry(config_path, id, &entry, err, errlen);
	if (r < 0)
		return r;
	r = serves(entry, id, pool, ns, err, errlen);
	if (r < 0)
		goto out;
	r = apply_tenant(entry, pool, ns, &merged);
	if (r < 0) {
		r = set_err(err, errlen, r,
			    "KMS '%s' in %s: \"tenants\" must map POOL or POOL/NS "
			    "to objects",
			    id, config_path);
		goto out;
	}
	use = merged ? merged : entry;
	/* ceph-csi names the type encryptionKMSType (or KMS_PROVIDER). */
	type = kms_cfg_str(use, "encryptionKMSType");
	if (!type)
		type = kms_cfg_str(use, "KMS_PROVIDER");
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
			    "passphrase-metadata, vault-transit, vault-kv, pkcs11, kmip, and "
			    "ceph-csi's "
			    "metadata, vault, vaulttokens, vaulttenantsa)",
			    id, type);
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->id = strdup(id))) {
		r = -ENOMEM;
		goto out;
	}
	k->ops = ops;
	/* Some types reach their key here (a key file, a PKCS#11 token): a failure is the
	 * entry's health too. */
	r = ops->init(k, use);
	if (r < 0) {
		(void)kms_health_fail(k, r);
		r = set_err(err, errlen, r, "KMS '%s' (%s): %s", id, type,
			    k->error[0] ? k->error : strerror(-r));
		goto out;
	}
	*ret = TAKE_PTR(k);
	r = 0;
out:
	kms_free(k);
	json_object_put(merged);
	json_object_put(entry);
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
	return k->ops->mode == KMS_WRAPS;
}

const char *kms_type(const struct kms *k)
{
	return k->ops->type;
}

/* Each provider once (several type names share one). */
static void for_each_provider(void (*fn)(const struct kms_ops *ops, void *u), void *u)
{
	for (size_t i = 0; i < ARRAY_SIZE(kms_types); i++) {
		int seen = 0;

		for (size_t k = 0; k < i && !seen; k++)
			seen = kms_types[k].ops == kms_types[i].ops;
		if (!seen)
			fn(kms_types[i].ops, u);
	}
}

static void agent_mode_of(const struct kms_ops *ops, void *u)
{
	(void)u;
	if (ops->agent_mode)
		ops->agent_mode();
}

static void cleanup_of(const struct kms_ops *ops, void *u)
{
	(void)u;
	if (ops->cleanup)
		ops->cleanup();
}

static void key_version_of(const struct kms_ops *ops, void *u)
{
	struct {
		const char *wrapped;
		uint32_t v;
	} *kv = u;

	if (!kv->v && ops->key_version)
		kv->v = ops->key_version(kv->wrapped);
}

uint32_t kms_key_version(const char *wrapped)
{
	struct {
		const char *wrapped;
		uint32_t v;
	} kv = { wrapped, 0 };

	if (wrapped)
		for_each_provider(key_version_of, &kv);
	return kv.v ? kv.v : 1;
}

int kms_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
	     char **wrapped)
{
	k->error[0] = '\0';
	if (!k->ops->wrap)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s does not wrap keys", k->ops->type);
	return kms_health_note(k, k->ops->wrap(k, b, dek, len, wrapped));
}

int kms_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped, uint8_t **dek,
	       size_t *len)
{
	k->error[0] = '\0';
	if (!k->ops->unwrap)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s does not unwrap keys", k->ops->type);
	return kms_health_note(k, k->ops->unwrap(k, b, wrapped, dek, len));
}

int kms_binding_aad(const struct kms_binding *b, char *buf, size_t len)
{
	int n;

	if (!b || !b->volume_id || !b->volume_id[0])
		return -EINVAL;
	if (b->scope)
		n = snprintf(buf, len, "pvenc:dek:v2:%s:%s", b->scope, b->volume_id);
	else
		n = snprintf(buf, len, "pvenc:dek:v1:%s", b->volume_id);
	return n < 0 ? -EINVAL : (size_t)n >= len ? -ENAMETOOLONG : n;
}

void kms_agent_mode(void)
{
	for_each_provider(agent_mode_of, NULL);
}

void kms_cleanup(void)
{
	kms_config_forget();
	for_each_provider(cleanup_of, NULL);
	http_cleanup();
}

int kms_create_key(struct kms *k, char **key_id)
{
	k->error[0] = '\0';
	*key_id = NULL;
	if (!k->ops->create_key)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s cannot create its key here",
				k->ops->type);
	return k->ops->create_key(k, key_id);
}
