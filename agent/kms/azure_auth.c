// SPDX-License-Identifier: MIT
/*
 * azure-kv's token: the OAuth 2.0 client-credentials grant with a client assertion, as
 * MSAL does for a certificate credential: a JWT signed RS256 by the certificate's key,
 * header x5t = base64 (standard alphabet, as MSAL writes it) of the certificate's SHA-1,
 * aud = the token endpoint, iss = sub = the client id, jti, nbf, exp = +10 minutes;
 * POSTed as client_assertion for scope https://vault.azure.net/.default. The answer's
 * access token is kept by the process until a minute before it expires.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "kms/azure.h"
#include "kms/cloud.h"
#include "kms/cloudresp.h"
#include "net/http.h"
#include "util/b64.h"
#include "util/fileio.h"
#include "util/formenc.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

#define AZ_PEM_MAX (64u << 10)
#define AZ_JWT_MAX 8192

/* base64url without padding of @n bytes into @out (cap >= 4n/3 + 4). */
static size_t b64url(const uint8_t *in, size_t n, char *out)
{
	size_t len = b64_encode(in, n, out);

	for (size_t i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	while (len && out[len - 1] == '=')
		out[--len] = '\0';
	return len;
}

/* The certificate and key of @path (one PEM file). */
static int load_cert(struct kms *k, const char *path, X509 **cert, EVP_PKEY **key)
{
	_cleanup_secmem_ uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio;
	int r = read_secret_file(path, AZ_PEM_MAX, &pem, &len);

	if (r == -EPERM)
		return kms_fail(k, r,
				"%s must be owned by root and not accessible by group or others "
				"(chmod 0600)",
				path);
	if (r < 0)
		return kms_fail(k, r, "cannot read the client certificate %s: %s", path,
				strerror(-r));
	bio = BIO_new_mem_buf(pem, (int)len);
	*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	(void)BIO_reset(bio);
	*key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!*cert || !*key || EVP_PKEY_base_id(*key) != EVP_PKEY_RSA)
		return kms_fail(
			k, -EINVAL,
			"%s must hold a PEM certificate and its unencrypted RSA private key", path);
	return 0;
}

static int sign_rs256(EVP_PKEY *key, const char *msg, uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestSign(c, sig, siglen, (const unsigned char *)msg, strlen(msg)) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : -EIO;
}

/* The signed client assertion (secmem). */
static int assertion(struct kms *k, const struct azure *a, char **out)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	uint8_t sha1[20], jti[16], sig[1024];
	unsigned char *der = NULL;
	char thumb[40], hdr[256], claims[2048], eh[400], ec[2800], esig[1400], jtis[40],
		signed_part[3300];
	size_t siglen = sizeof(sig);
	unsigned int n = 0;
	time_t now = time(NULL);
	int derlen, r;

	r = load_cert(k, a->cert_file, &cert, &key);
	derlen = r == 0 ? i2d_X509(cert, &der) : -1;
	if (r == 0 &&
	    (derlen <= 0 || EVP_Digest(der, (size_t)derlen, sha1, &n, EVP_sha1(), NULL) != 1))
		r = -EIO;
	OPENSSL_free(der);
	if (r == 0 && getrandom(jti, sizeof(jti), 0) != (ssize_t)sizeof(jti))
		r = -EIO;
	if (r == 0) {
		for (size_t i = 0; i < sizeof(jti); i++)
			(void)snprintf(jtis + 2 * i, 3, "%02x", jti[i]);
		(void)b64_encode(sha1, sizeof(sha1), thumb);
		(void)snprintf(hdr, sizeof(hdr),
			       "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\"}", thumb);
		(void)snprintf(
			claims, sizeof(claims),
			"{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"jti\":\"%s\",\"nbf\":%lld,"
			"\"exp\":%lld}",
			a->token_url, a->client_id, a->client_id, jtis, (long long)now,
			(long long)now + 600);
		(void)b64url((const uint8_t *)hdr, strlen(hdr), eh);
		(void)b64url((const uint8_t *)claims, strlen(claims), ec);
		(void)snprintf(signed_part, sizeof(signed_part), "%s.%s", eh, ec);
		r = sign_rs256(key, signed_part, sig, &siglen);
	}
	if (r == 0 && siglen <= sizeof(sig)) {
		(void)b64url(sig, siglen, esig);
		*out = secmem_alloc(AZ_JWT_MAX);
		if (!*out)
			r = -ENOMEM;
		else if (snprintf(*out, AZ_JWT_MAX, "%s.%s", signed_part, esig) >= AZ_JWT_MAX)
			r = -E2BIG;
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return r < 0 && !k->error[0]
		       ? kms_fail(k, r, "cannot sign the client assertion with %s", a->cert_file)
		       : r;
}

/* The token endpoint's answer: {"token_type": "Bearer", "expires_in", "access_token"}
 * or {"error", "error_description"}. */
static int take(struct kms *k, const struct azure *a, long status, struct json_object *o,
		char **tok, time_t *exp)
{
	if (status != 200) {
		const char *e = jget_str(o, "error"), *d = jget_str(o, "error_description");

		if (status == 429 || status >= 500)
			return kms_fail(k, -EAGAIN,
					"Azure AD at %s is unavailable (HTTP %ld); retrying later",
					a->token_url, status);
		return kms_fail(k, -EACCES,
				"Azure AD at %s refused client %s with the certificate in %s (HTTP "
				"%ld, %.40s: %.200s)",
				a->token_url, a->client_id, a->cert_file, status, e ? e : "?",
				d ? d : "");
	}
	if (bearer_token(o, tok, exp) < 0)
		return kms_fail(k, -EBADMSG, "Azure AD at %s answered without a bearer token",
				a->token_url);
	return 0;
}

static int login(struct kms *k, const struct azure *a, char **tok, time_t *exp)
{
	const char *hdrs[] = { "Content-Type: application/x-www-form-urlencoded",
			       "Accept: application/json", NULL };
	_cleanup_secmem_ char *jwt = NULL, *body = NULL;
	_cleanup_json_wipe_ struct json_object *o = NULL;
	struct http_resp rs = { 0 };
	char id[3 * AZ_ID_MAX + 1], err[512] = "";
	size_t cap, blen;
	int r;

	r = assertion(k, a, &jwt);
	if (r < 0 || !jwt)
		return r < 0 ? r : -EIO;
	cap = strlen(jwt) + sizeof(id) + 512;
	body = secmem_alloc(cap);
	if (!body || form_encode(a->client_id, id, sizeof(id)) < 0)
		return -ENOMEM;
	blen = (size_t)snprintf(
		body, cap,
		"grant_type=client_credentials&client_id=%s&client_assertion_type="
		"urn%%3Aietf%%3Aparams%%3Aoauth%%3Aclient-assertion-type%%3Ajwt-bearer&"
		"client_assertion=%s&scope=https%%3A%%2F%%2Fvault.azure.net%%2F.default",
		id, jwt);
	r = cloud_http("POST", a->token_url, hdrs, body, blen, a->ca_file, a->timeout_ms, &rs, err,
		       sizeof(err));
	if (r < 0)
		return kms_fail(k, r, "Azure AD at %s: %s", a->token_url, err);
	if (rs.len)
		o = json_parse_secret(rs.body, rs.len);
	r = take(k, a, rs.status, o, tok, exp);
	http_resp_clear(&rs);
	return r;
}

static int login_fn(struct kms *k, const void *u, char **tok, time_t *exp)
{
	return login(k, u, tok, exp);
}

int az_token(struct kms *k, const struct azure *a, int fresh, char **out)
{
	char who[4 * AZ_URL_MAX];

	(void)snprintf(who, sizeof(who), "%.1023s|%.127s|%.600s", a->token_url, a->client_id,
		       a->cert_file);
	return cloud_token(k, who, fresh, login_fn, a, out);
}
