// SPDX-License-Identifier: MIT
/*
 * KMS type "pkcs11": the KEK is a non-extractable AES-256 secret key on a PKCS#11 token
 * (an HSM, or SoftHSM2 in labs); DEKs are wrapped with CKM_AES_GCM on the token, with
 * the volume binding "pvenc:dek:v1:<volume id>" as associated data. The wrapped form is
 * the same JSON as keyfile's (kms/wrapfmt.h), kid = the key's label.
 *
 * Config:
 *   {"encryptionKMSType": "pkcs11", "pkcs11Module": "/usr/lib/softhsm/libsofthsm2.so",
 *    "pkcs11URI": "pkcs11:token=pvenc;object=pvenc-kek?pin-source=file:/etc/pvenc/secrets/hsm-pin"}
 * The URI (RFC 7512, parsed by p11-kit) selects the token (token, manufacturer, serial,
 * model) and the key (object or id); the PIN comes from pin-source or pkcs11PinFile,
 * a root-only file. A wrong PIN is never retried: tokens lock after a few failures.
 */
#include <errno.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kms/provider.h"
#include "kms/wrapfmt.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/secmem.h"

#define PIN_MAX 256

struct p11 {
	char *module_path;
	char *uri_text;
	P11KitUri *uri;
	char *pin_file;
	char label[WRAP_KID_MAX + 1]; /* the key's CKA_LABEL, also the kid */
	struct json_object *cfg; /* pkcs11PreviousKeyLabels: retired KEKs that still unwrap */
	CK_FUNCTION_LIST *m;
	int initialized;
};

/* Modules are loaded "managed" by p11-kit, which reference-counts C_Initialize and
 * C_Finalize per user: the agent's workers each hold their own KMS instance. */
static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *rv_text(CK_RV rv)
{
	return p11_kit_strerror(rv);
}

static int p11_init(struct kms *k, struct json_object *cfg)
{
	const char *mod = kms_cfg_str(cfg, "pkcs11Module");
	const char *uri = kms_cfg_str(cfg, "pkcs11URI");
	const char *pinf = kms_cfg_str(cfg, "pkcs11PinFile");
	struct p11 *p = calloc(1, sizeof(*p));
	CK_ATTRIBUTE *a;
	int r;

	if (!p)
		return -ENOMEM;
	k->priv = p;
	p->cfg = json_object_get(cfg);
	if (!uri)
		return kms_fail(k, -EINVAL, "pkcs11URI (pkcs11:token=...;object=...) is required");
	p->uri = p11_kit_uri_new();
	if (!p->uri)
		return -ENOMEM;
	r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, p->uri);
	if (r != P11_KIT_URI_OK)
		return kms_fail(k, -EINVAL, "pkcs11URI '%s': %s", uri, p11_kit_uri_message(r));
	if (!mod)
		mod = p11_kit_uri_get_module_path(p->uri);
	if (!mod || mod[0] != '/')
		return kms_fail(k, -EINVAL,
				"pkcs11Module (absolute path of the token's PKCS#11 module) is "
				"required");
	a = p11_kit_uri_get_attribute(p->uri, CKA_LABEL);
	if (!a || !a->ulValueLen || a->ulValueLen > WRAP_KID_MAX)
		return kms_fail(k, -EINVAL, "pkcs11URI '%s' must name the key: object=LABEL", uri);
	memcpy(p->label, a->pValue, a->ulValueLen);
	p->label[a->ulValueLen] = '\0';
	if (!pinf) {
		const char *src = p11_kit_uri_get_pin_source(p->uri);

		if (src && !strncmp(src, "file:", 5))
			pinf = src + 5;
		else if (src && src[0] == '/')
			pinf = src;
	}
	if (p11_kit_uri_get_pin_value(p->uri))
		return kms_fail(
			k, -EINVAL,
			"pkcs11URI must not carry pin-value: put the PIN in a root-only file "
			"(pin-source=file:... or pkcs11PinFile)");
	if (!pinf || pinf[0] != '/')
		return kms_fail(k, -EINVAL,
				"the token PIN file is required: pkcs11PinFile or "
				"pin-source=file:/ABSOLUTE/PATH in the URI");
	p->module_path = strdup(mod);
	p->uri_text = strdup(uri);
	p->pin_file = strdup(pinf);
	if (!p->module_path || !p->uri_text || !p->pin_file)
		return -ENOMEM;
	{
		CK_TOKEN_INFO *ti = p11_kit_uri_get_token_info(p->uri);
		char label[33];
		size_t n = sizeof(ti->label);

		while (n && ti->label[n - 1] == ' ')
			n--;
		memcpy(label, ti->label, n);
		label[n] = '\0';
		return kms_set_endpoint(k, "pkcs11:%s#token=%s", p->module_path, label);
	}
}

static void p11_free(struct kms *k)
{
	struct p11 *p = k->priv;

	if (!p)
		return;
	json_object_put(p->cfg);
	if (p->m) {
		pthread_mutex_lock(&modules_lock);
		if (p->initialized)
			(void)p11_kit_module_finalize(p->m);
		p11_kit_module_release(p->m);
		pthread_mutex_unlock(&modules_lock);
	}
	if (p->uri)
		p11_kit_uri_free(p->uri);
	free(p->module_path);
	free(p->uri_text);
	free(p->pin_file);
	free(p);
	k->priv = NULL;
}

/* Loads the module, finds the token, opens a logged-in session. */
static int p11_open(struct kms *k, CK_SESSION_HANDLE *ses)
{
	struct p11 *p = k->priv;
	CK_SLOT_ID slots[64];
	CK_ULONG nslots = 64;
	CK_SLOT_ID slot = 0;
	_cleanup_secmem_ uint8_t *pin = NULL;
	size_t pinlen;
	int have = 0, r;
	CK_RV rv;

	if (!p->m) {
		pthread_mutex_lock(&modules_lock);
		p->m = p11_kit_module_load(p->module_path, 0);
		if (p->m) {
			rv = p11_kit_module_initialize(p->m);
			p->initialized = rv == CKR_OK;
		}
		pthread_mutex_unlock(&modules_lock);
		if (!p->m)
			/* A configuration error (exit 1), not a missing image or device. */
			return kms_fail(k, -EINVAL, "cannot load PKCS#11 module %s: %s",
					p->module_path,
					p11_kit_message() ? p11_kit_message() : "not found");
		if (!p->initialized)
			return kms_fail(k, -EIO, "PKCS#11 module %s failed to initialise",
					p->module_path);
	}
	/* File-backed tokens (SoftHSM2) can look absent for a moment while another process
	 * rewrites them: look a few times before giving up. */
	for (int attempt = 0; !have && attempt < 5; attempt++) {
		if (attempt)
			(void)usleep(100 * 1000);
		nslots = ARRAY_SIZE(slots);
		rv = p->m->C_GetSlotList(CK_TRUE, slots, &nslots);
		if (rv != CKR_OK)
			return kms_fail(k, -EIO, "C_GetSlotList: %s", rv_text(rv));
		for (CK_ULONG i = 0; i < nslots && !have; i++) {
			CK_TOKEN_INFO ti;

			if (p->m->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
			    p11_kit_uri_match_token_info(p->uri, &ti)) {
				slot = slots[i];
				have = 1;
			}
		}
	}
	/* -ENXIO: the agent retries (an HSM may come back). */
	if (!have)
		return kms_fail(k, -ENXIO, "no token matching %s in module %s (%lu tokens present)",
				p->uri_text, p->module_path, (unsigned long)nslots);
	rv = p->m->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, ses);
	if (rv != CKR_OK)
		return kms_fail(k, -EIO, "C_OpenSession: %s", rv_text(rv));
	r = read_secret_file(p->pin_file, PIN_MAX, &pin, &pinlen);
	if (r < 0) {
		(void)p->m->C_CloseSession(*ses);
		return kms_fail(k, r == -EPERM ? -EKEYREJECTED : r,
				"cannot read the token PIN file %s: %s", p->pin_file,
				r == -EPERM ? "it must be owned by root with mode 0600"
					    : strerror(-r));
	}
	while (pinlen && (pin[pinlen - 1] == '\n' || pin[pinlen - 1] == '\r'))
		pinlen--;
	rv = p->m->C_Login(*ses, CKU_USER, pin, pinlen);
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		(void)p->m->C_CloseSession(*ses);
		/* Not retried (EKEYREJECTED): repeated wrong PINs lock the token. */
		return kms_fail(
			k,
			rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ? -EKEYREJECTED : -EACCES,
			"token %s refused the PIN from %s (%s)%s", p->uri_text, p->pin_file,
			rv_text(rv),
			rv == CKR_PIN_INCORRECT ? "; pvenc does not retry a wrong PIN" : "");
	}
	return 0;
}

/* The secret key labelled @label, in a logged-in session. */
static int p11_find_key(struct kms *k, CK_SESSION_HANDLE ses, const char *label,
			CK_OBJECT_HANDLE *key)
{
	struct p11 *p = k->priv;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
				{ CKA_LABEL, (void *)label, strlen(label) } };
	CK_ULONG found = 0;
	CK_RV rv;

	rv = p->m->C_FindObjectsInit(ses, tmpl, ARRAY_SIZE(tmpl));
	if (rv == CKR_OK) {
		rv = p->m->C_FindObjects(ses, key, 1, &found);
		(void)p->m->C_FindObjectsFinal(ses);
	}
	if (rv != CKR_OK || found != 1)
		return kms_fail(k, -ENOKEY, "no secret key labelled '%s' on token %s%s%s", label,
				p->uri_text, rv != CKR_OK ? ": " : "",
				rv != CKR_OK ? rv_text(rv) : "");
	return 0;
}

/* A logged-in session and the key; the caller closes the session. */
static int p11_session(struct kms *k, const char *label, CK_SESSION_HANDLE *ses,
		       CK_OBJECT_HANDLE *key)
{
	struct p11 *p = k->priv;
	int r = p11_open(k, ses);

	if (r < 0)
		return r;
	r = p11_find_key(k, *ses, label, key);
	if (r < 0)
		(void)p->m->C_CloseSession(*ses);
	return r;
}

/* AES-GCM on the token with w's IV and AAD: encrypts @in into w->ct, or decrypts w->ct
 * into @out. */
static int gcm(struct kms *k, int encrypt, const char *label, struct wrap_env *w, const uint8_t *in,
	       size_t inlen, uint8_t *out, size_t *outlen)
{
	struct p11 *p = k->priv;
	CK_SESSION_HANDLE ses = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	int r;
	CK_GCM_PARAMS gp = { .iv_ptr = w->iv,
			     .iv_len = WRAP_IV_LEN,
			     .iv_bits = (unsigned long)WRAP_IV_LEN * 8,
			     .aad_ptr = (unsigned char *)w->aad,
			     .aad_len = (unsigned long)w->aadlen,
			     .tag_bits = (unsigned long)WRAP_TAG_LEN * 8 };
	CK_MECHANISM mech = { CKM_AES_GCM, &gp, sizeof(gp) };
	CK_ULONG olen = *outlen;
	CK_RV rv;

	r = p11_session(k, label, &ses, &key);
	if (r < 0)
		return r;
	if (encrypt) {
		rv = p->m->C_EncryptInit(ses, &mech, key);
		if (rv == CKR_OK)
			rv = p->m->C_Encrypt(ses, (CK_BYTE *)in, inlen, out, &olen);
	} else {
		rv = p->m->C_DecryptInit(ses, &mech, key);
		if (rv == CKR_OK)
			rv = p->m->C_Decrypt(ses, (CK_BYTE *)in, inlen, out, &olen);
	}
	(void)p->m->C_CloseSession(ses);
	if (rv == CKR_ENCRYPTED_DATA_INVALID || (!encrypt && rv == CKR_FUNCTION_FAILED) ||
	    rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		return kms_fail(k, -EKEYREJECTED,
				"the wrapped DEK does not authenticate under key '%s': it was "
				"tampered with or belongs to another volume (%s)",
				label, rv_text(rv));
	if (rv != CKR_OK)
		return kms_fail(k, -EIO, "AES-GCM %s with key '%s' on %s failed: %s",
				encrypt ? "encryption" : "decryption", label, p->uri_text,
				rv_text(rv));
	*outlen = olen;
	return 0;
}

static int p11_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		    char **wrapped)
{
	struct p11 *p = k->priv;
	struct wrap_env w;
	size_t ctlen = sizeof(w.ct);
	int r;

	r = wrapfmt_prepare(k, b, len, &w);
	if (r < 0)
		return r;
	r = gcm(k, 1, p->label, &w, dek, len, w.ct, &ctlen);
	if (r < 0)
		return r;
	if (ctlen != len + WRAP_TAG_LEN)
		return kms_fail(k, -EIO, "the token returned %zu bytes for AES-GCM, not %zu", ctlen,
				len + WRAP_TAG_LEN);
	return wrapfmt_encode(p->label, &w, wrapped);
}

static int p11_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
		      uint8_t **ret, size_t *retlen)
{
	struct p11 *p = k->priv;
	_cleanup_secmem_ uint8_t *dek = NULL;
	struct wrap_env w;
	size_t len;
	int r;

	r = wrapfmt_open(k, b, wrapped, &w);
	if (r < 0)
		return r;
	/* A KEK rotation in progress: DEKs wrapped by a retired key the entry still lists. */
	if (strcmp(w.kid, p->label) != 0 &&
	    !kms_cfg_list_has(p->cfg, "pkcs11PreviousKeyLabels", w.kid))
		return kms_fail(k, -EKEYREJECTED,
				"wrong key: the DEK was wrapped by token key '%s', this entry uses "
				"'%s' (list retired keys in pkcs11PreviousKeyLabels)",
				w.kid, p->label);
	dek = secmem_alloc(w.ctlen);
	if (!dek)
		return -ENOMEM;
	len = w.ctlen;
	r = gcm(k, 0, w.kid, &w, w.ct, w.ctlen, dek, &len);
	if (r < 0)
		return r;
	*retlen = len;
	*ret = TAKE_PTR(dek);
	return 0;
}

static int p11_check(struct kms *k, const struct kms_check_ops *c)
{
	struct p11 *p = k->priv;
	CK_SESSION_HANDLE ses = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_BBOOL ext = CK_TRUE, sens = CK_FALSE, never = CK_FALSE;
	CK_ULONG klen = 0;
	CK_KEY_TYPE type = CKK_AES;
	CK_ATTRIBUTE at[] = { { CKA_EXTRACTABLE, &ext, sizeof(ext) },
			      { CKA_SENSITIVE, &sens, sizeof(sens) },
			      { CKA_NEVER_EXTRACTABLE, &never, sizeof(never) },
			      { CKA_VALUE_LEN, &klen, sizeof(klen) },
			      { CKA_KEY_TYPE, &type, sizeof(type) } };
	int r;

	kms_report(c, -1, "module %s, token %s", p->module_path, p->uri_text);
	r = p11_session(k, p->label, &ses, &key);
	if (r < 0) {
		kms_report(c, 0, "log in and find key '%s': %s", p->label, k->error);
		return r;
	}
	kms_report(c, 1, "log in with the PIN from %s and find key '%s'", p->pin_file, p->label);
	(void)p->m->C_GetAttributeValue(ses, key, at, ARRAY_SIZE(at));
	(void)p->m->C_CloseSession(ses);
	if (type != CKK_AES) {
		kms_report(c, 0,
			   "key '%s' is not an AES key (CKA_KEY_TYPE 0x%lx): it cannot be the KEK",
			   p->label, (unsigned long)type);
		return kms_fail(k, -EINVAL, "key '%s' on %s is not an AES key", p->label,
				p->uri_text);
	}
	kms_report(c, !ext && sens, "key '%s' (AES-%lu) is %s and %s%s", p->label,
		   (unsigned long)klen * 8, ext ? "EXTRACTABLE" : "non-extractable",
		   sens ? "sensitive" : "NOT sensitive", never ? ", never was extractable" : "");
	return 0;
}

/* `pvencctl kms create-key`: a non-extractable, sensitive AES-256 key on the token. */
static int p11_create_key(struct kms *k, char **key_id)
{
	struct p11 *p = k->priv;
	CK_SESSION_HANDLE ses = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ULONG len = 32;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },     { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &t, sizeof(t) },	      { CKA_PRIVATE, &t, sizeof(t) },
		{ CKA_SENSITIVE, &t, sizeof(t) },     { CKA_EXTRACTABLE, &f, sizeof(f) },
		{ CKA_ENCRYPT, &t, sizeof(t) },	      { CKA_DECRYPT, &t, sizeof(t) },
		{ CKA_WRAP, &f, sizeof(f) },	      { CKA_UNWRAP, &f, sizeof(f) },
		{ CKA_SIGN, &f, sizeof(f) },	      { CKA_VERIFY, &f, sizeof(f) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_LABEL, p->label, strlen(p->label) },
	};
	CK_RV rv;
	int r;

	r = p11_open(k, &ses);
	if (r < 0)
		return r;
	if (p11_find_key(k, ses, p->label, &key) == 0) {
		(void)p->m->C_CloseSession(ses);
		return kms_fail(k, -EEXIST, "token %s already holds a key labelled '%s'",
				p->uri_text, p->label);
	}
	k->error[0] = '\0';
	rv = p->m->C_GenerateKey(ses, &mech, tmpl, ARRAY_SIZE(tmpl), &key);
	(void)p->m->C_CloseSession(ses);
	if (rv != CKR_OK)
		return kms_fail(k, -EIO, "C_GenerateKey on %s: %s", p->uri_text, rv_text(rv));
	*key_id = strdup(p->label);
	return *key_id ? 0 : -ENOMEM;
}

const struct kms_ops kms_pkcs11_ops = {
	.type = "pkcs11",
	.mode = KMS_WRAPS,
	.init = p11_init,
	.free = p11_free,
	.wrap = p11_wrap,
	.unwrap = p11_unwrap,
	.check = p11_check,
	.create_key = p11_create_key,
};
