// SPDX-License-Identifier: MIT
/*
 * KMS type "vault-transit": envelope encryption with Vault's Transit engine. The DEK is
 * wrapped by transit/encrypt/<key>; the ciphertext ("vault:vN:...") is what image metadata
 * stores; transit/decrypt unwraps it. The KEK never leaves Vault, and the least-privilege
 * policy is `update` on transit/encrypt/<key> and transit/decrypt/<key>.
 *
 * Binding: every request carries associated_data = the volume's binding
 * ("pvenc:dek:v2:<pool[/ns]>:<volume id>", or v1 without the scope for volumes made
 * before binding v2) and context = "<volume id>". AES-GCM authenticates the associated data with any key type,
 * so a wrapped DEK copied to another image does not decrypt there; with a derived key
 * (derived=true) the context also selects a per-volume key. Vault ignores context for
 * keys that are not derived, so sending both works with either kind of key.
 *
 * Unwraps from concurrent opens (the agent's workers) are coalesced: while one decrypt
 * request is in flight, others queue, and the next request carries all of them as
 * batch_input. No timer, no added latency for a single open.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kms/vault.h"
#include "util/b64.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

#define DEK_MAX	      256
#define WRAPPED_MAX   4096
#define BATCH_MAX     128
#define PATH_PART_MAX 256

struct transit {
	struct vault v;
	char *mount;
	char *key;
};

static int valid_part(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > PATH_PART_MAX)
		return 0;
	for (const char *p = s; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' || *p == '/' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return 0;
	return strstr(s, "..") == NULL;
}

static int transit_init(struct kms *k, struct json_object *cfg)
{
	const char *type =
		kms_cfg_str(cfg, "encryptionKMSType") ?: kms_cfg_str(cfg, "KMS_PROVIDER");
	struct transit *t = calloc(1, sizeof(*t));
	const char *mount, *key;
	int r;

	if (!t)
		return -ENOMEM;
	k->priv = t;
	r = vault_init(k, &t->v, cfg, type ? type : "vault-transit");
	if (r < 0)
		return r;
	mount = vault_cfg(cfg,
			  (const char *const[]){ "vaultTransitPath", "vaultBackendPath", NULL })
			?: "transit";
	key = vault_cfg(cfg, (const char *const[]){ "vaultTransitKey", "vaultKeyName", NULL });
	if (!key)
		return kms_fail(k, -EINVAL,
				"vaultTransitKey (the name of the Transit key) is required");
	while (*mount == '/')
		mount++;
	t->mount = strdup(mount);
	t->key = strdup(key);
	if (!t->mount || !t->key)
		return -ENOMEM;
	for (size_t n = strlen(t->mount); n && t->mount[n - 1] == '/'; n--)
		t->mount[n - 1] = '\0';
	if (!valid_part(t->mount) || !valid_part(t->key) || strchr(t->key, '/'))
		return kms_fail(k, -EINVAL,
				"vaultTransitPath '%s' or vaultTransitKey '%s' is not a "
				"valid Vault path component",
				mount, key);
	return 0;
}

static void transit_free(struct kms *k)
{
	struct transit *t = k->priv;

	if (!t)
		return;
	vault_done(&t->v);
	free(t->mount);
	free(t->key);
	free(t);
	k->priv = NULL;
}

/* context and associated_data for a volume (base64). */
static int binding(struct kms *k, const struct kms_binding *b, char **ctx, char **aad)
{
	char buf[640];
	int n = kms_binding_aad(b, buf, sizeof(buf));

	if (n < 0)
		return kms_fail(k, n, "no volume id to bind the DEK to");
	*ctx = malloc(b64_encoded_size(strlen(b->volume_id)));
	*aad = malloc(b64_encoded_size((size_t)n));
	if (!*ctx || !*aad) {
		free(*ctx);
		free(*aad);
		*ctx = *aad = NULL;
		return -ENOMEM;
	}
	b64_encode((const uint8_t *)b->volume_id, strlen(b->volume_id), *ctx);
	b64_encode((const uint8_t *)buf, (size_t)n, *aad);
	return 0;
}

static int transit_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
			char **wrapped)
{
	struct transit *t = k->priv;
	_cleanup_free_ char *ctx = NULL, *aad = NULL;
	_cleanup_secmem_ char *pt = NULL;
	_cleanup_json_wipe_ struct json_object *body = NULL, *resp = NULL;
	const char *ct;
	char path[600];
	int r;

	if (len == 0 || len > DEK_MAX)
		return kms_fail(k, -EINVAL, "DEK length %zu out of range", len);
	r = binding(k, b, &ctx, &aad);
	if (r < 0)
		return r;
	pt = secmem_alloc(b64_encoded_size(len));
	body = json_object_new_object();
	if (!pt || !body)
		return -ENOMEM;
	b64_encode(dek, len, pt);
	json_object_object_add(body, "plaintext", json_object_new_string(pt));
	json_object_object_add(body, "context", json_object_new_string(ctx));
	json_object_object_add(body, "associated_data", json_object_new_string(aad));
	(void)snprintf(path, sizeof(path), "%s/encrypt/%s", t->mount, t->key);
	r = vault_request(k, &t->v, "POST", path, body, &resp, NULL);
	if (r < 0)
		return r;
	ct = jget_str(jget_obj(resp, "data"), "ciphertext");
	if (!ct || strncmp(ct, "vault:v", 7) != 0 || strlen(ct) > WRAPPED_MAX)
		return kms_fail(
			k, -EPROTO,
			"Vault's answer to %s lacks data.ciphertext of the form vault:vN:...",
			path);
	*wrapped = strdup(ct);
	return *wrapped ? 0 : -ENOMEM;
}

/* A ciphertext we are willing to send: vault:v<digits>:<base64>. */
static int valid_ciphertext(const char *s)
{
	const char *p;

	if (strncmp(s, "vault:v", 7) != 0 || strlen(s) > WRAPPED_MAX)
		return 0;
	p = s + 7;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != ':' || !*p)
		return 0;
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || *p == '+' || *p == '/' || *p == '='))
			return 0;
	return 1;
}

/* Plaintext (base64) of a decrypt answer item into a secmem DEK. */
static int take_plaintext(struct kms *k, struct json_object *item, uint8_t **dek, size_t *len)
{
	const char *pt = jget_str(item, "plaintext");
	uint8_t *d;
	int n;

	if (!pt)
		return kms_fail(k, -EPROTO, "Vault's decrypt answer lacks data.plaintext");
	d = secmem_alloc(DEK_MAX);
	if (!d)
		return -ENOMEM;
	n = b64_decode(pt, strlen(pt), d, DEK_MAX);
	if (n <= 0) {
		secmem_free(d);
		return kms_fail(k, -EPROTO, "Vault's decrypt answer holds a malformed plaintext");
	}
	*dek = d;
	*len = (size_t)n;
	return 0;
}

/* ---- decrypt batching ---- */

struct unwrap_item {
	struct unwrap_item *next;
	const char *ciphertext, *ctx, *aad;
	int taken, done, r;
	uint8_t *dek;
	size_t len;
	char error[512];
};

struct batcher {
	struct batcher *next;
	char *key;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int busy;
	struct unwrap_item *head;
};

static pthread_mutex_t batchers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct batcher *batchers;

static struct batcher *batcher_get(struct transit *t)
{
	struct batcher *b;
	char *key;

	if (asprintf(&key, "%p|%s|%s|%s", (void *)t->v.sess, t->v.ns, t->mount, t->key) < 0)
		return NULL;
	pthread_mutex_lock(&batchers_lock);
	for (b = batchers; b; b = b->next)
		if (!strcmp(b->key, key))
			break;
	if (!b && (b = calloc(1, sizeof(*b)))) {
		b->key = TAKE_PTR(key);
		pthread_mutex_init(&b->lock, NULL);
		pthread_cond_init(&b->cond, NULL);
		b->next = batchers;
		batchers = b;
	}
	pthread_mutex_unlock(&batchers_lock);
	free(key);
	return b;
}

static void transit_cleanup(void)
{
	pthread_mutex_lock(&batchers_lock);
	while (batchers) {
		struct batcher *b = batchers;

		batchers = b->next;
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->cond);
		free(b->key);
		free(b);
	}
	pthread_mutex_unlock(&batchers_lock);
	vault_cleanup(); /* the sessions too */
}

/* Sends @items (n ≥ 1) in one request and fills in their results. */
/* transit/decrypt's body: one item, or a batch_input with a reference per item. */
static void decrypt_body(struct json_object *body, struct unwrap_item **items, size_t n)
{
	struct json_object *arr;

	if (n == 1) {
		json_object_object_add(body, "ciphertext",
				       json_object_new_string(items[0]->ciphertext));
		json_object_object_add(body, "context", json_object_new_string(items[0]->ctx));
		json_object_object_add(body, "associated_data",
				       json_object_new_string(items[0]->aad));
		return;
	}
	arr = json_object_new_array();
	for (size_t i = 0; arr && i < n; i++) {
		struct json_object *it = json_object_new_object();
		char ref[24];

		(void)snprintf(ref, sizeof(ref), "%zu", i);
		json_object_object_add(it, "ciphertext",
				       json_object_new_string(items[i]->ciphertext));
		json_object_object_add(it, "context", json_object_new_string(items[i]->ctx));
		json_object_object_add(it, "associated_data",
				       json_object_new_string(items[i]->aad));
		json_object_object_add(it, "reference", json_object_new_string(ref));
		json_object_array_add(arr, it);
	}
	json_object_object_add(body, "batch_input", arr);
	/* One bad item must not fail the others: 200 with per-item errors. */
	json_object_object_add(body, "partial_failure_response_code", json_object_new_int(200));
}

/* Each item's answer out of batch_results (as many as items were sent). */
static void take_batch(struct kms *k, struct transit *t, const char *path,
		       struct json_object *results, struct unwrap_item **items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct json_object *it = json_object_array_get_idx(results, i);
		const char *e = jget_str(it, "error");

		k->error[0] = '\0';
		if (e && e[0])
			items[i]->r = kms_fail(
				k, strstr(e, "authentication failed") ? -EKEYREJECTED : -EINVAL,
				"Vault at %s could not decrypt with %s: %s", t->v.c.addr, path, e);
		else
			items[i]->r = take_plaintext(k, it, &items[i]->dek, &items[i]->len);
		(void)snprintf(items[i]->error, sizeof(items[i]->error), "%s", k->error);
	}
}

static void send_batch(struct kms *k, struct transit *t, struct unwrap_item **items, size_t n)
{
	_cleanup_json_wipe_ struct json_object *body = json_object_new_object(), *resp = NULL;
	struct json_object *results = NULL, *data;
	char path[600];
	long st = 0;
	int r;

	(void)snprintf(path, sizeof(path), "%s/decrypt/%s", t->mount, t->key);
	if (!body) {
		r = -ENOMEM;
		goto fail_all;
	}
	decrypt_body(body, items, n);
	r = vault_request(k, &t->v, "POST", path, body, &resp, &st);
	data = jget_obj(resp, "data");
	if (n == 1) {
		if (r == 0)
			r = take_plaintext(k, data, &items[0]->dek, &items[0]->len);
		items[0]->r = r;
		(void)snprintf(items[0]->error, sizeof(items[0]->error), "%s", k->error);
		return;
	}
	/* A batch with a failed item answers 400 with batch_results still in the body;
	 * vault_request reports that as an error, so look at the body ourselves. */
	if (r == 0 && data && json_object_object_get_ex(data, "batch_results", &results) &&
	    json_object_is_type(results, json_type_array) &&
	    json_object_array_length(results) == n) {
		take_batch(k, t, path, results, items, n);
		return;
	}
	if (r == -EINVAL && st == 400) {
		/* Some item failed: retry each alone so each gets its own answer. */
		for (size_t i = 0; i < n; i++)
			send_batch(k, t, &items[i], 1);
		return;
	}
	if (r == 0)
		r = kms_fail(k, -EPROTO, "Vault's batch answer to %s lacks %zu batch_results", path,
			     n);
fail_all:
	for (size_t i = 0; i < n; i++) {
		items[i]->r = r;
		(void)snprintf(items[i]->error, sizeof(items[i]->error), "%s", k->error);
	}
}

static int transit_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
			  uint8_t **dek, size_t *len)
{
	struct transit *t = k->priv;
	_cleanup_free_ char *ctx = NULL, *aad = NULL;
	struct unwrap_item me = { .ciphertext = wrapped };
	struct batcher *bt;
	int r;

	if (!valid_ciphertext(wrapped))
		return kms_fail(
			k, -EBADMSG,
			"the wrapped DEK is not a Vault Transit ciphertext (vault:vN:base64)");
	r = binding(k, b, &ctx, &aad);
	if (r < 0)
		return r;
	me.ctx = ctx;
	me.aad = aad;
	/* The session must exist before the batcher key (which names it) is built. */
	{
		_cleanup_secmem_ char *tok = NULL;

		r = vault_session_token(k, &t->v, &tok);
		if (r < 0)
			return r;
	}
	bt = batcher_get(t);
	if (!bt)
		return -ENOMEM;
	pthread_mutex_lock(&bt->lock);
	me.next = bt->head;
	bt->head = &me;
	while (!me.done) {
		struct unwrap_item *items[BATCH_MAX], **pp;
		size_t n = 0;

		if (bt->busy) {
			pthread_cond_wait(&bt->cond, &bt->lock);
			continue;
		}
		/* Lead: take every waiting item (ours included) off the queue. */
		for (pp = &bt->head; *pp && n < BATCH_MAX;) {
			struct unwrap_item *it = *pp;

			items[n++] = it;
			it->taken = 1;
			*pp = it->next;
		}
		bt->busy = 1;
		pthread_mutex_unlock(&bt->lock);
		send_batch(k, t, items, n);
		pthread_mutex_lock(&bt->lock);
		for (size_t i = 0; i < n; i++)
			items[i]->done = 1;
		bt->busy = 0;
		pthread_cond_broadcast(&bt->cond);
	}
	pthread_mutex_unlock(&bt->lock);
	if (me.r < 0)
		return kms_fail(k, me.r, "%s", me.error);
	*dek = me.dek;
	*len = me.len;
	return 0;
}

static int transit_check(struct kms *k, const struct kms_check_ops *c)
{
	struct transit *t = k->priv;
	int r = vault_check_conn(k, &t->v, c);

	if (r == 0)
		kms_report(c, -1,
			   "Transit key %s/keys/%s (needs update on %s/encrypt/%s and "
			   "%s/decrypt/%s)",
			   t->mount, t->key, t->mount, t->key, t->mount, t->key);
	return r;
}

/* `pvencctl kms create-key`: the Transit key (needs create/update on transit/keys/<key>). */
static int transit_create_key(struct kms *k, char **key_id)
{
	struct transit *t = k->priv;
	_cleanup_json_wipe_ struct json_object *body = json_object_new_object(), *resp = NULL;
	char path[600];
	int r;

	if (!body)
		return -ENOMEM;
	(void)snprintf(path, sizeof(path), "%s/keys/%s", t->mount, t->key);
	json_object_object_add(body, "type", json_object_new_string("aes256-gcm96"));
	json_object_object_add(body, "exportable", json_object_new_boolean(0));
	r = vault_request(k, &t->v, "GET", path, NULL, &resp, NULL);
	if (r == 0)
		return kms_fail(k, -EEXIST, "Vault at %s already has Transit key %s", t->v.c.addr,
				path);
	json_put_wipe(resp);
	resp = NULL;
	/* Current Vault answers 200 with the key, older Vault 204. */
	r = vault_request(k, &t->v, "POST", path, body, &resp, NULL);
	if (r < 0)
		return r;
	*key_id = strdup(path);
	return *key_id ? 0 : -ENOMEM;
}

/* A Transit ciphertext names the key version that made it: "vault:v<N>:...". */
static uint32_t transit_key_version(const char *wrapped)
{
	unsigned long v;
	char *end;

	if (strncmp(wrapped, "vault:v", 7) != 0)
		return 0;
	errno = 0;
	v = strtoul(wrapped + 7, &end, 10);
	if (errno || end == wrapped + 7 || *end != ':' || v == 0 || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

const struct kms_ops kms_vault_transit_ops = {
	.type = "vault-transit",
	.mode = KMS_WRAPS,
	.agent_mode = vault_start_renewer,
	.cleanup = transit_cleanup,
	.key_version = transit_key_version,
	.init = transit_init,
	.free = transit_free,
	.wrap = transit_wrap,
	.unwrap = transit_unwrap,
	.check = transit_check,
	.create_key = transit_create_key,
};
