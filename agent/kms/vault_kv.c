// SPDX-License-Identifier: MIT
/*
 * KMS type "vault-kv" (and ceph-csi's "vault", "vaulttokens", "vaulttenantsa"): the
 * DEK itself is kept in Vault's KV engine, v1 or v2, in ceph-csi's layout so volumes
 * that ceph-csi created open as they are:
 *   path   <vaultBackendPath>/[data/]<vaultPassphrasePath><volume id>
 *   secret {"data": {"passphrase": "<DEK>"}}  (KV v2 wraps the write in one more "data")
 * For ceph-csi volumes the passphrase text is the LUKS passphrase; pvenc's own volumes
 * store their binary DEK base64-encoded there. Deleting a volume destroys the secret
 * (all KV v2 versions) unless vaultDestroyKeys is "false", as ceph-csi does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kms/vault.h"
#include "util/b64.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

#define DEK_MAX	   256
#define SECRET_MAX 4096

struct kv {
	struct vault v;
	char *mount; /* backend path without slashes at either end */
	char *prefix; /* vaultPassphrasePath, "" or ending in '/' */
	int version; /* 1, 2, or 0 = ask Vault */
	int destroy;
};

static int kv_init(struct kms *k, struct json_object *cfg)
{
	const char *type =
		kms_cfg_str(cfg, "encryptionKMSType") ?: kms_cfg_str(cfg, "KMS_PROVIDER");
	struct kv *kv = calloc(1, sizeof(*kv));
	const char *s, *mount, *prefix;
	size_t n;
	int r;

	if (!kv)
		return -ENOMEM;
	k->priv = kv;
	if (!type)
		type = "vault-kv";
	r = vault_init(k, &kv->v, cfg, type);
	if (r < 0)
		return r;
	mount = vault_cfg(cfg,
			  (const char *const[]){ "vaultBackendPath", "VAULT_BACKEND_PATH", NULL });
	/* ceph-csi's "vault" type names the mount through vaultPassphraseRoot (/v1/secret). */
	if (!mount && (s = kms_cfg_str(cfg, "vaultPassphraseRoot")))
		mount = s;
	if (!mount)
		mount = "secret/";
	while (*mount == '/')
		mount++;
	if (!strncmp(mount, "v1/", 3))
		mount += 3;
	kv->mount = strdup(mount);
	prefix = kms_cfg_str(cfg, "vaultPassphrasePath") ?: "";
	while (*prefix == '/')
		prefix++;
	n = strlen(prefix);
	if (asprintf(&kv->prefix, "%s%s", prefix, n && prefix[n - 1] != '/' ? "/" : "") < 0)
		kv->prefix = NULL;
	if (!kv->mount || !kv->prefix)
		return -ENOMEM;
	for (n = strlen(kv->mount); n && kv->mount[n - 1] == '/'; n--)
		kv->mount[n - 1] = '\0';
	if (!kv->mount[0] || strstr(kv->mount, "..") || strstr(kv->prefix, ".."))
		return kms_fail(k, -EINVAL, "vaultBackendPath/vaultPassphrasePath is malformed");
	s = vault_cfg(cfg, (const char *const[]){ "vaultBackend", "VAULT_BACKEND", NULL });
	if (!s)
		kv->version = 0;
	else if (!strcmp(s, "kv"))
		kv->version = 1;
	else if (!strcmp(s, "kv-v2"))
		kv->version = 2;
	else
		return kms_fail(k, -EINVAL, "vaultBackend '%s' is neither kv nor kv-v2", s);
	s = vault_cfg(cfg, (const char *const[]){ "vaultDestroyKeys", "VAULT_DESTROY_KEYS", NULL });
	kv->destroy = !(s && (!strcasecmp(s, "false") || !strcmp(s, "0")));
	return 0;
}

static void kv_free(struct kms *k)
{
	struct kv *kv = k->priv;

	if (!kv)
		return;
	vault_done(&kv->v);
	free(kv->mount);
	free(kv->prefix);
	free(kv);
	k->priv = NULL;
}

/* KV v1 or v2? ceph-csi asks sys/mounts; sys/internal/ui/mounts/<path> needs no policy. */
static int kv_version(struct kms *k, struct kv *kv)
{
	_cleanup_json_wipe_ struct json_object *o = NULL;
	const char *ver, *type;
	struct json_object *d;
	char path[600];
	int r;

	if (kv->version)
		return kv->version;
	(void)snprintf(path, sizeof(path), "sys/internal/ui/mounts/%s", kv->mount);
	r = vault_request(k, &kv->v, "GET", path, NULL, &o, NULL);
	if (r < 0)
		return kms_fail(
			k, r,
			"cannot tell whether %s is KV v1 or v2 (%s); set vaultBackend to kv "
			"or kv-v2",
			kv->mount, k->error);
	d = jget_obj(o, "data");
	type = jget_str(d, "type");
	ver = jget_str(jget_obj(d, "options"), "version");
	if (!type || strcmp(type, "kv") != 0)
		return kms_fail(k, -EINVAL, "Vault mount %s is of type %s, not kv", kv->mount,
				type ? type : "unknown");
	kv->version = ver && !strcmp(ver, "2") ? 2 : 1;
	return kv->version;
}

static int volume_path(struct kms *k, struct kv *kv, const struct kms_binding *b, const char *sub,
		       char *buf, size_t len)
{
	int n, ver = kv_version(k, kv);

	if (ver < 0)
		return ver;
	if (!b || !b->volume_id || !b->volume_id[0] || strchr(b->volume_id, '/') ||
	    strstr(b->volume_id, ".."))
		return kms_fail(k, -EINVAL, "no usable volume id for the KV path");
	n = snprintf(buf, len, "%s/%s%s%s", kv->mount, ver == 2 ? sub : "", kv->prefix,
		     b->volume_id);
	return n < 0 || (size_t)n >= len ? kms_fail(k, -ENAMETOOLONG, "KV path too long") : 0;
}

static int kv_fetch(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len)
{
	struct kv *kv = k->priv;
	_cleanup_json_wipe_ struct json_object *o = NULL;
	struct json_object *d;
	const char *pass;
	char path[1024];
	uint8_t *out;
	size_t plen;
	int r;

	r = volume_path(k, kv, b, "data/", path, sizeof(path));
	if (r < 0)
		return r;
	r = vault_request(k, &kv->v, "GET", path, NULL, &o, NULL);
	if (r == -ENOENT)
		return kms_fail(k, -ENOKEY,
				"Vault at %s holds no DEK for volume %s at %s (404: never stored, "
				"deleted or destroyed)",
				kv->v.c.addr, b->volume_id, path);
	if (r < 0)
		return r;
	d = jget_obj(o, "data");
	if (kv->version == 2)
		d = jget_obj(d, "data");
	pass = jget_str(jget_obj(d, "data"), "passphrase");
	if (!pass || !pass[0] || strlen(pass) > SECRET_MAX)
		return kms_fail(k, -EBADMSG,
				"the secret at %s is not {\"data\": {\"passphrase\": \"...\"}}",
				path);
	plen = strlen(pass);
	out = secmem_alloc(b->text ? plen + 1 : DEK_MAX);
	if (!out)
		return -ENOMEM;
	if (b->text) {
		memcpy(out, pass, plen);
		*len = plen;
	} else {
		int n = b64_decode(pass, plen, out, DEK_MAX);

		if (n <= 0) {
			secmem_free(out);
			return kms_fail(k, -EBADMSG, "the passphrase at %s is not base64", path);
		}
		*len = (size_t)n;
	}
	*dek = out;
	return 0;
}

static int kv_store(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len)
{
	struct kv *kv = k->priv;
	_cleanup_json_wipe_ struct json_object *body = NULL, *o = NULL;
	_cleanup_secmem_ char *pass = NULL;
	struct json_object *secret, *inner;
	char path[1024];
	int r;

	if (len == 0 || len > DEK_MAX)
		return kms_fail(k, -EINVAL, "DEK length %zu out of range", len);
	r = volume_path(k, kv, b, "data/", path, sizeof(path));
	if (r < 0)
		return r;
	if (kv->version == 1 && !b->replace) {
		/* No check-and-set in KV v1: never overwrite a key that exists. */
		r = vault_request(k, &kv->v, "GET", path, NULL, &o, NULL);
		if (r == 0)
			return kms_fail(k, -EEXIST,
					"Vault already holds a secret at %s; refusing "
					"to overwrite it",
					path);
		if (r != -ENOENT)
			return r;
	}
	pass = secmem_alloc(b64_encoded_size(len));
	body = json_object_new_object();
	secret = json_object_new_object();
	inner = json_object_new_object();
	if (!pass || !body || !secret || !inner) {
		json_object_put(secret);
		json_object_put(inner);
		return -ENOMEM;
	}
	if (b->text)
		memcpy(pass, dek, len < secmem_len(pass) - 1 ? len : secmem_len(pass) - 1);
	else
		b64_encode(dek, len, pass);
	json_object_object_add(inner, "passphrase", json_object_new_string(pass));
	json_object_object_add(secret, "data", inner);
	if (kv->version == 2) {
		struct json_object *opts = json_object_new_object();

		json_object_object_add(body, "data", secret);
		/* cas=0: write only if the path does not exist yet (a rotation replaces). */
		if (!b->replace)
			json_object_object_add(opts, "cas", json_object_new_int(0));
		json_object_object_add(body, "options", opts);
	} else {
		/* KV v1 stores the body as the secret. */
		json_object_put(body);
		body = secret;
	}
	json_put_wipe(o);
	o = NULL;
	r = vault_request(k, &kv->v, "POST", path, body, &o, NULL);
	if (r == -EINVAL && strstr(k->error, "check-and-set"))
		return kms_fail(k, -EEXIST,
				"Vault already holds a secret at %s; refusing to "
				"overwrite it",
				path);
	return r;
}

static int kv_remove(struct kms *k, const struct kms_binding *b)
{
	struct kv *kv = k->priv;
	_cleanup_json_wipe_ struct json_object *o = NULL;
	char path[1024];
	int r;

	r = volume_path(k, kv, b, kv->destroy ? "metadata/" : "data/", path, sizeof(path));
	if (r < 0)
		return r;
	r = vault_request(k, &kv->v, "DELETE", path, NULL, &o, NULL);
	return r == -ENOENT ? 0 : r;
}

static int kv_check(struct kms *k, const struct kms_check_ops *c)
{
	struct kv *kv = k->priv;
	int r = vault_check_conn(k, &kv->v, c);

	if (r < 0)
		return r;
	r = kv_version(k, kv);
	if (r < 0) {
		kms_report(c, 0, "KV engine at %s: %s", kv->mount, k->error);
		return r;
	}
	kms_report(c, 1, "KV engine at %s is version %d; DEKs at %s/%s%s<volume id>%s", kv->mount,
		   r, kv->mount, r == 2 ? "data/" : "", kv->prefix,
		   kv->destroy ? ", destroyed on delete" : ", soft-deleted on delete");
	return 0;
}

const struct kms_ops kms_vault_kv_ops = {
	.mode = KMS_KEEPS,
	.agent_mode = vault_start_renewer,
	.cleanup = vault_cleanup,
	.type = "vault-kv",
	.init = kv_init,
	.free = kv_free,
	.store = kv_store,
	.fetch = kv_fetch,
	.remove = kv_remove,
	.check = kv_check,
};
