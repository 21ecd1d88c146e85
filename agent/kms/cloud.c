// SPDX-License-Identifier: MIT
#include "kms/cloud.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/http.h"
#include "util/fileio.h"
#include "util/jsonsec.h"
#include "util/log.h"
#include "util/secmem.h"

#define SECRET_MAX  4096
#define REFRESH_S   60
#define TOKEN_SLOTS 16
#define WHO_MAX	    2048
#define ATTEMPTS    3

int cloud_secret(struct kms *k, const char *dir, const char *name, char **out)
{
	_cleanup_free_ char *path = NULL;
	uint8_t *raw = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	r = read_secret_file(path, SECRET_MAX, &raw, &len);
	if (r == -ENOENT)
		return r;
	if (r == -EPERM)
		return kms_fail(k, r,
				"%s must be owned by root and not accessible by group or others "
				"(chmod 0600)",
				path);
	if (r < 0 || !raw)
		return kms_fail(k, r < 0 ? r : -EIO, "cannot read %s: %s", path,
				strerror(r < 0 ? -r : EIO));
	while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
		raw[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (raw[i] < 0x21 || raw[i] > 0x7e)
			len = 0;
	if (!len) {
		secmem_free(raw);
		return kms_fail(k, -EINVAL,
				"%s is empty or holds characters other than printable ASCII", path);
	}
	*out = (char *)raw;
	return 0;
}

int cloud_secret_write(struct kms *k, const char *dir, const char *name, const char *value)
{
	_cleanup_free_ char *path = NULL;
	FILE *f;
	int fd, r;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f && fprintf(f, "%s\n", value) >= 0 && fclose(f) == 0)
		return 0;
	r = -errno;
	if (f)
		(void)fclose(f);
	else if (fd >= 0)
		(void)close(fd);
	return kms_fail(k, r, "the new key %s could not be written to %s: %s", value, path,
			strerror(-r));
}

int cloud_secret_dir(struct kms *k, struct json_object *cfg, const char *key, const char *def,
		     char **dir)
{
	const char *base = kms_cfg_str(cfg, "secretsDir") ?: "/etc/pvenc/secrets";
	const char *name = kms_cfg_str(cfg, key) ?: def;

	if (!name[0] || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, "."))
		return kms_fail(k, -EINVAL, "%s '%s' is not a Secret's name", key, name);
	return asprintf(dir, "%s/%s", base, name) < 0 ? -ENOMEM : 0;
}

long cloud_timeout(struct kms *k, struct json_object *cfg, const char *key)
{
	struct json_object *o;
	long long v = -1;
	char *end;

	if (!json_object_object_get_ex(cfg, key, &o))
		return 15000;
	if (json_object_is_type(o, json_type_int)) {
		v = json_object_get_int64(o);
	} else if (json_object_is_type(o, json_type_string)) {
		v = strtoll(json_object_get_string(o), &end, 10);
		if (*end && strcmp(end, "s") != 0)
			v = -1;
	}
	if (v >= 1 && v <= 3600)
		return (long)v * 1000;
	(void)kms_fail(k, -EINVAL, "%s must be whole seconds in [1, 3600]", key);
	return -1;
}

int cloud_url(struct kms *k, struct json_object *cfg, const char *key, const char *def, char *url,
	      size_t len)
{
	const char *v = kms_cfg_str(cfg, key) ?: def;
	size_t n = v ? strlen(v) : 0;

	while (n && v[n - 1] == '/')
		n--;
	if (!n || n >= len || (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) ||
	    strcspn(v, " \"\\?#") < n)
		return kms_fail(k, -EINVAL, "%s '%s' is not an http(s) URL", key, v ? v : "");
	memcpy(url, v, n);
	url[n] = '\0';
	return 0;
}

char *cloud_sdup(const char *s)
{
	size_t n = s ? strlen(s) + 1 : 0;
	char *d = n ? secmem_alloc(n) : NULL;

	if (d)
		memcpy(d, s, n);
	return d;
}

struct slot {
	char who[WHO_MAX];
	char *tok;
	time_t expires;
};
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[TOKEN_SLOTS];

int cloud_token(struct kms *k, const char *who, int fresh, cloud_login_fn login, const void *u,
		char **out)
{
	struct slot *s = &slots[0];
	char *tok = NULL;
	time_t exp = 0;
	int r = -ENOENT;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TOKEN_SLOTS && r == -ENOENT; i++)
		if (slots[i].tok && !strcmp(slots[i].who, who) && !fresh &&
		    slots[i].expires - REFRESH_S > time(NULL))
			r = (*out = cloud_sdup(slots[i].tok)) ? 0 : -ENOMEM;
	pthread_mutex_unlock(&lock);
	if (r != -ENOENT)
		return r;
	r = login(k, u, &tok, &exp);
	if (r < 0)
		return r;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TOKEN_SLOTS; i++) {
		if (!strcmp(slots[i].who, who)) {
			s = &slots[i];
			break;
		}
		if (slots[i].expires < s->expires)
			s = &slots[i];
	}
	secmem_free(s->tok);
	(void)snprintf(s->who, sizeof(s->who), "%s", who);
	s->tok = cloud_sdup(tok);
	s->expires = exp;
	pthread_mutex_unlock(&lock);
	*out = tok;
	return 0;
}

void cloud_token_cleanup(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < TOKEN_SLOTS; i++) {
		secmem_free(slots[i].tok);
		memset(&slots[i], 0, sizeof(slots[i]));
	}
	pthread_mutex_unlock(&lock);
}

int cloud_http(const char *method, const char *url, const char *const *hdrs, const char *body,
	       size_t blen, const char *ca_file, long timeout_ms, struct http_resp *rs, char *err,
	       size_t errlen)
{
	const struct http_tls tls = { .ca_file = ca_file };

	return http_do(&(struct http_req){ .method = method,
					   .url = url,
					   .headers = hdrs,
					   .body = body,
					   .body_len = blen,
					   .tls = &tls,
					   .connect_timeout_ms = 5000,
					   .timeout_ms = timeout_ms },
		       rs, err, errlen);
}

static int retryable(int tr, long status)
{
	return tr == -ECONNRESET || tr == -ETIMEDOUT ||
	       (tr == 0 && (status == 429 || (status >= 500 && status != 501)));
}

int cloud_call(struct kms *k, const struct cloud_call *c, struct json_object **resp)
{
	int r = 0, relog = 0;

	*resp = NULL;
	for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
		_cleanup_secmem_ char *tok = NULL;
		struct http_resp rs = { 0 };
		struct json_object *o = NULL;
		char err[512] = "";
		int tr, again;
		size_t had;

		r = c->token(k, c->u, relog == 1, &tok);
		if (r < 0)
			return r;
		tr = c->send(c->u, tok, &rs, err, sizeof(err));
		if (tr == 0 && rs.len)
			o = json_parse_secret(rs.body, rs.len);
		had = rs.len;
		if (tr == 0 && rs.status >= 200 && rs.status < 300) {
			http_resp_clear(&rs);
			if (had && !o)
				return kms_fail(k, -EBADMSG, "%s answered %s with no JSON",
						c->service, c->what);
			*resp = o;
			return 0;
		}
		if (tr == 0 && rs.status == 401 && !relog) {
			relog = 1;
			attempt--;
			json_put_wipe(o);
			http_resp_clear(&rs);
			continue;
		}
		again = attempt + 1 < ATTEMPTS && retryable(tr, rs.status);
		r = tr < 0 ? kms_fail(k, tr, "%s: %s", c->service, err)
			   : c->fail(k, c->u, rs.status, o);
		json_put_wipe(o);
		http_resp_clear(&rs);
		relog = relog ? 2 : 0;
		if (!again)
			break;
		log_debug("kms=%s event=cloud-retry what=%s", k->id, c->what);
		(void)usleep((useconds_t)(200000L << (2 * attempt)));
	}
	return r;
}
