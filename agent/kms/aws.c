// SPDX-License-Identifier: MIT
/*
 * KMS types "aws-metadata" and "aws-sts-metadata" (ceph-csi's names): AWS KMS through
 * its JSON 1.1 API (TrentService.Encrypt, Decrypt, CreateKey), signed with SigV4
 * (net/sigv4.h). The key never leaves AWS; pvenc's DEK and ceph-csi's passphrase are
 * encrypted under it and stored in image metadata.
 *
 * Config (kms.json), with ceph-csi's field names so its entries paste as they are:
 *   aws-metadata      AWS_REGION (required); KMS_SECRET_NAME (ceph-csi-aws-credentials):
 *                     the files secretsDir/<name>/AWS_ACCESS_KEY_ID,
 *                     AWS_SECRET_ACCESS_KEY, AWS_CMK_ARN and, optional,
 *                     AWS_SESSION_TOKEN (a Kubernetes Secret's keys as files).
 *   aws-sts-metadata  secretName (ceph-csi-aws-credentials): the files awsRoleARN,
 *                     awsCMKARN and awsRegion; the web identity token in the file
 *                     AWS_WEB_IDENTITY_TOKEN_FILE (/run/secrets/tokens/oidc-token).
 *   pvenc's own       secretsDir (/etc/pvenc/secrets); AWS_ENDPOINT_URL_KMS and
 *                     AWS_ENDPOINT_URL_STS (private endpoints; the SDKs' names);
 *                     AWS_CA_BUNDLE (a PEM CA file instead of the system's);
 *                     awsTimeout (seconds per request, 15).
 *
 * pvenc volumes: Encrypt with the encryption context {"pvenc:binding": <the binding's
 * associated data>}, so a ciphertext copied to another volume does not decrypt there;
 * Decrypt names the configured key (KeyId), so a ciphertext under any other key of the
 * account is refused. ceph-csi volumes: no context, as ceph-csi encrypts. Both store
 * the CiphertextBlob's base64 (once) in image metadata.
 */
#include "kms/aws.h"
#include "kms/cloud.h"
#include "kms/cloudresp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/http.h"
#include "net/sigv4.h"
#include "util/b64.h"
#include "util/jsonsec.h"
#include "util/log.h"
#include "util/secmem.h"

#define AWS_PLAINTEXT_MAX 4096 /* Encrypt's limit */
#define AWS_ATTEMPTS	  3
#define CONTEXT_KEY	  "pvenc:binding"

static int need_key(struct kms *k, const struct aws *a)
{
	return a->cmk[0] ? 0
			 : kms_fail(k, -ENOKEY,
				    "%s/%s names no KMS key: write the key's ARN there, or run "
				    "pvencctl kms create-key %s",
				    a->secret_dir, a->cmk_file, k->id);
}

/* ---- calls ---- */

static int map_error(struct kms *k, const struct aws *a, const char *op, long status,
		     struct json_object *o)
{
	const char *t = aws_error_type(o), *m = jget_str(o, "message") ?: jget_str(o, "Message");
	char msg[300];

	(void)snprintf(msg, sizeof(msg), "%s%s%.250s", t[0] ? t : "no error type", m ? ": " : "",
		       m ? m : "");
	if (!strcmp(t, "NotFoundException") || !strcmp(t, "DisabledException") ||
	    !strcmp(t, "KMSInvalidStateException"))
		return kms_fail(k, -ENOKEY,
				"AWS KMS at %s cannot use key %s for %s (%s): enable it, or cancel "
				"its deletion",
				a->kms_url, a->cmk, op, msg);
	if (!strcmp(t, "InvalidCiphertextException") || !strcmp(t, "IncorrectKeyException"))
		return kms_fail(k, -EKEYREJECTED,
				"AWS KMS at %s refused to decrypt the wrapped DEK with key %s "
				"(%s): it was tampered with, belongs to another volume, or was "
				"encrypted under another key",
				a->kms_url, a->cmk, msg);
	if (!strcmp(t, "ExpiredTokenException") || !strcmp(t, "ExpiredToken"))
		return kms_fail(k, -EKEYEXPIRED,
				"AWS KMS at %s: the credentials' session token has expired (%s)%s",
				a->kms_url, msg,
				a->sts ? "" : "; write fresh ones to the Secret's files");
	if (!strcmp(t, "AccessDeniedException") || !strcmp(t, "UnrecognizedClientException") ||
	    !strcmp(t, "InvalidSignatureException") || !strcmp(t, "IncompleteSignatureException") ||
	    status == 401 || status == 403)
		return kms_fail(k, -EACCES,
				"AWS KMS at %s denied %s with key %s (%s): check the credentials "
				"and the key policy",
				a->kms_url, op, a->cmk, msg);
	if (!strcmp(t, "ThrottlingException") || status == 429)
		return kms_fail(k, -EAGAIN, "AWS KMS at %s is throttling (%s); retrying later",
				a->kms_url, msg);
	if (status >= 500)
		return kms_fail(k, -EIO, "AWS KMS at %s failed %s (HTTP %ld, %s)", a->kms_url, op,
				status, msg);
	return kms_fail(k, -EPROTO, "AWS KMS at %s answered %s with HTTP %ld (%s)", a->kms_url, op,
			status, msg);
}

static int transient(int r, long status, struct json_object *o)
{
	if (r == -ECONNRESET || r == -ETIMEDOUT)
		return 1;
	return r == 0 && (status == 429 || status >= 500 ||
			  !strcmp(aws_error_type(o), "ThrottlingException"));
}

/* One signed POST of @body (JSON text) as TrentService.@op. */
static int post(struct kms *k, const struct aws *a, const struct aws_creds *c, const char *op,
		const char *body, size_t blen, struct http_resp *rs, char *err, size_t errlen)
{
	_cleanup_secmem_ char *auth = NULL, *tokhdr = NULL;
	char target[64], date[17], datehdr[40], authhdr_name[] = "Authorization: ";
	const char *hdrs[6];
	size_t n = 0, alen = SIGV4_AUTH_MAX + sizeof(authhdr_name);
	int r;

	(void)snprintf(target, sizeof(target), "TrentService.%s", op);
	sigv4_now(date);
	auth = secmem_alloc(alen);
	if (!auth)
		return -ENOMEM;
	{
		const struct sigv4_header sh[] = { { "Content-Type", "application/x-amz-json-1.1" },
						   { "X-Amz-Target", target } };
		const struct sigv4_req sr = { .method = "POST",
					      .host = a->host,
					      .headers = sh,
					      .nheaders = 2,
					      .body = body,
					      .body_len = blen,
					      .region = a->region,
					      .service = "kms",
					      .amz_date = date,
					      .access_key = c->access_key,
					      .secret_key = c->secret_key,
					      .session_token = c->session_token };

		memcpy(auth, authhdr_name, sizeof(authhdr_name) - 1);
		r = sigv4_authorization(&sr, auth + sizeof(authhdr_name) - 1,
					alen - sizeof(authhdr_name) + 1);
	}
	if (r < 0)
		return kms_fail(k, r, "cannot sign the request to AWS KMS: %s", strerror(-r));
	(void)snprintf(datehdr, sizeof(datehdr), "X-Amz-Date: %s", date);
	hdrs[n++] = "Content-Type: application/x-amz-json-1.1";
	hdrs[n++] = datehdr;
	hdrs[n++] = auth;
	if (c->session_token) {
		size_t tl = strlen(c->session_token) + sizeof("X-Amz-Security-Token: ");

		tokhdr = secmem_alloc(tl);
		if (!tokhdr)
			return -ENOMEM;
		(void)snprintf(tokhdr, tl, "X-Amz-Security-Token: %s", c->session_token);
		hdrs[n++] = tokhdr;
	}
	{
		char th[96];

		(void)snprintf(th, sizeof(th), "X-Amz-Target: %s", target);
		hdrs[n++] = th;
		hdrs[n] = NULL;
		r = cloud_http("POST", a->kms_url, hdrs, body, blen, a->ca_file, a->timeout_ms, rs,
			       err, errlen);
	}
	return r;
}

/* TrentService.@op with @req; the answer (2xx) in *resp. Throttling, 5xx and dropped
 * connections are tried AWS_ATTEMPTS times in all, backing off (Retry-After up to 2 s). */
static int aws_call(struct kms *k, struct aws *a, const char *op, struct json_object *req,
		    struct json_object **resp)
{
	_cleanup_secmem_ char *body = NULL;
	struct aws_creds sts = { 0 };
	const struct aws_creds *c = &a->creds;
	size_t blen = 0;
	int r = 0;

	*resp = NULL;
	if (a->sts) {
		r = aws_sts_creds(k, a, &sts);
		if (r < 0)
			return r;
		c = &sts;
	}
	body = json_to_secret(req, &blen);
	if (!body) {
		aws_creds_clear(&sts);
		return -ENOMEM;
	}
	for (int attempt = 0; attempt < AWS_ATTEMPTS; attempt++) {
		struct http_resp rs = { 0 };
		struct json_object *o = NULL;
		char err[512] = "";
		long wait_ms = 200L << (2 * attempt);

		int tr = post(k, a, c, op, body, blen, &rs, err, sizeof(err)), again;

		if (tr == 0 && rs.len)
			o = json_parse_secret(rs.body, rs.len);
		if (tr == 0 && rs.status >= 200 && rs.status < 300) {
			http_resp_clear(&rs);
			r = 0;
			if (!o || !json_object_is_type(o, json_type_object)) {
				json_put_wipe(o);
				r = kms_fail(k, -EBADMSG,
					     "AWS KMS at %s answered %s with no JSON object",
					     a->kms_url, op);
				break;
			}
			*resp = o;
			break;
		}
		again = attempt + 1 < AWS_ATTEMPTS && transient(tr, rs.status, o);
		if (rs.retry_after > 0)
			wait_ms = rs.retry_after > 2 ? 2000 : rs.retry_after * 1000;
		r = tr < 0 ? kms_fail(k, tr, "AWS KMS: %s", err)
			   : map_error(k, a, op, rs.status, o);
		if (again)
			log_debug("kms=%s event=aws-retry op=%s status=%ld", k->id, op, rs.status);
		json_put_wipe(o);
		http_resp_clear(&rs);
		if (!again)
			break;
		(void)usleep((useconds_t)wait_ms * 1000);
	}
	aws_creds_clear(&sts);
	return r;
}

/* The encryption context of a pvenc volume's DEK; none for ceph-csi's passphrases. */
static int add_context(struct kms *k, struct json_object *req, const struct kms_binding *b)
{
	char aad[600];
	struct json_object *ctx;
	int n;

	if (b->text)
		return 0;
	n = kms_binding_aad(b, aad, sizeof(aad));
	if (n < 0)
		return kms_fail(k, n, "no volume to bind the DEK to");
	ctx = json_object_new_object();
	if (!ctx)
		return -ENOMEM;
	json_object_object_add(ctx, CONTEXT_KEY, json_object_new_string(aad));
	json_object_object_add(req, "EncryptionContext", ctx);
	return 0;
}

/* A CiphertextBlob as the JSON API carries it: base64 text of a bounded size. */
static int blob_text(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 8192 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == n;
}

static int aws_wrap(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len,
		    char **wrapped)
{
	struct aws *a = k->priv;
	_cleanup_json_wipe_ struct json_object *req = json_object_new_object(), *resp = NULL;
	_cleanup_secmem_ char *pt = NULL;
	const char *blob;
	int r;

	if (!req || len == 0 || len > AWS_PLAINTEXT_MAX)
		return req ? -EINVAL : -ENOMEM;
	r = need_key(k, a);
	if (r < 0)
		return r;
	pt = secmem_alloc(b64_encoded_size(len) + 1);
	if (!pt)
		return -ENOMEM;
	(void)b64_encode(dek, len, pt);
	json_object_object_add(req, "KeyId", json_object_new_string(a->cmk));
	json_object_object_add(req, "Plaintext", json_object_new_string(pt));
	r = add_context(k, req, b);
	if (r == 0)
		r = aws_call(k, a, "Encrypt", req, &resp);
	if (r < 0)
		return r;
	blob = jget_str(resp, "CiphertextBlob");
	if (!blob || !blob_text(blob))
		return kms_fail(k, -EBADMSG,
				"AWS KMS at %s answered Encrypt without a CiphertextBlob",
				a->kms_url);
	*wrapped = strdup(blob);
	return *wrapped ? 0 : -ENOMEM;
}

static int aws_unwrap(struct kms *k, const struct kms_binding *b, const char *wrapped,
		      uint8_t **dek, size_t *len)
{
	struct aws *a = k->priv;
	_cleanup_json_wipe_ struct json_object *req = json_object_new_object(), *resp = NULL;
	_cleanup_secmem_ uint8_t *out = NULL;
	const char *pt;
	size_t n;
	int r;

	if (!req)
		return -ENOMEM;
	r = need_key(k, a);
	if (r < 0)
		return r;
	if (!blob_text(wrapped))
		return kms_fail(k, -EBADMSG,
				"the wrapped DEK is not an AWS KMS ciphertext (base64 text)");
	json_object_object_add(req, "CiphertextBlob", json_object_new_string(wrapped));
	json_object_object_add(req, "KeyId", json_object_new_string(a->cmk));
	r = add_context(k, req, b);
	if (r == 0)
		r = aws_call(k, a, "Decrypt", req, &resp);
	if (r < 0)
		return r;
	pt = jget_str(resp, "Plaintext");
	n = pt ? strlen(pt) : 0;
	if (!n || n > b64_encoded_size(AWS_PLAINTEXT_MAX))
		return kms_fail(k, -EBADMSG, "AWS KMS at %s answered Decrypt without a Plaintext",
				a->kms_url);
	out = secmem_alloc(n);
	if (!out)
		return -ENOMEM;
	r = b64_decode(pt, n, out, n);
	if (r <= 0)
		return kms_fail(
			k, -EBADMSG,
			"AWS KMS at %s answered Decrypt with a Plaintext that is not base64",
			a->kms_url);
	*len = (size_t)r;
	*dek = TAKE_PTR(out);
	return 0;
}

static int aws_check(struct kms *k, const struct kms_check_ops *c)
{
	struct aws *a = k->priv;
	struct aws_creds sts = { 0 };
	int r;

	kms_report(c, -1, "AWS KMS at %s, region %s, key %s", a->kms_url, a->region,
		   a->cmk[0] ? a->cmk : "(none yet: pvencctl kms create-key)");
	kms_report(c, -1, "TLS: CA %s", a->ca_file ? a->ca_file : "system trust store");
	if (!a->sts) {
		kms_report(c, -1, "credentials: access key %.4s... from %s%s", a->creds.access_key,
			   a->secret_dir, a->creds.session_token ? ", with a session token" : "");
		return 0;
	}
	r = aws_sts_creds(k, a, &sts);
	kms_report(c, r == 0, "assume role %s through STS at %s with the token in %s%s%s",
		   a->role_arn, a->sts_url, a->token_file, r < 0 ? ": " : "",
		   r < 0 ? k->error : "");
	aws_creds_clear(&sts);
	return r;
}

/* CreateKey (a symmetric encryption key), its ARN written to the Secret's key file. */
static int aws_create_key(struct kms *k, char **key_id)
{
	struct aws *a = k->priv;
	_cleanup_json_wipe_ struct json_object *req = json_object_new_object(), *resp = NULL;
	const char *arn;
	int r;

	if (!req)
		return -ENOMEM;
	if (a->cmk[0])
		return kms_fail(k, -EEXIST, "%s/%s names key %s already", a->secret_dir,
				a->cmk_file, a->cmk);
	json_object_object_add(req, "KeySpec", json_object_new_string("SYMMETRIC_DEFAULT"));
	json_object_object_add(req, "KeyUsage", json_object_new_string("ENCRYPT_DECRYPT"));
	json_object_object_add(req, "Description", json_object_new_string("pvenc KEK"));
	r = aws_call(k, a, "CreateKey", req, &resp);
	if (r < 0)
		return r;
	arn = jget_str(jget_obj(resp, "KeyMetadata"), "Arn");
	if (!arn || !arn[0] || strlen(arn) >= sizeof(a->cmk) ||
	    strcspn(arn, " \n\r\t") != strlen(arn))
		return kms_fail(k, -EBADMSG, "AWS KMS at %s answered CreateKey without an Arn",
				a->kms_url);
	r = cloud_secret_write(k, a->secret_dir, a->cmk_file, arn);
	if (r < 0)
		return r;
	*key_id = strdup(arn);
	return *key_id ? 0 : -ENOMEM;
}

const struct kms_ops kms_aws_ops = {
	.type = "aws-metadata",
	.mode = KMS_WRAPS,
	.init = aws_init_static,
	.free = aws_free,
	.wrap = aws_wrap,
	.unwrap = aws_unwrap,
	.check = aws_check,
	.create_key = aws_create_key,
};

const struct kms_ops kms_aws_sts_ops = {
	.type = "aws-sts-metadata",
	.mode = KMS_WRAPS,
	.init = aws_init_sts,
	.free = aws_free,
	.wrap = aws_wrap,
	.unwrap = aws_unwrap,
	.check = aws_check,
	.create_key = aws_create_key,
	.cleanup = aws_sts_cleanup,
};
