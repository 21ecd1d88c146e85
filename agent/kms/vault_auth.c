// SPDX-License-Identifier: MIT
/*
 * Vault tokens: one cached session per (server, auth namespace, method, credential),
 * shared by every KMS instance of the process, so a burst of volume opens logs in once.
 * Login tokens are renewed while renewable and replaced by a fresh login when they run
 * out; token files are re-read when the file changes; in the agent a thread renews
 * renewable tokens at two thirds of their TTL, so they survive quiet periods.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kms/health.h"
#include "kms/vault.h"
#include "util/fileio.h"
#include "util/jsonsec.h"
#include "util/log.h"
#include "util/secmem.h"

#define TOKEN_MAX 8192

struct vault_session {
	struct vault_session *next;
	char *key; /* identity: what makes two configs share a token */
	pthread_mutex_t lock;
	/* Enough of the config to log in and renew without a KMS instance. */
	struct vault_conn c;
	char *auth_ns;
	enum vault_auth_method auth;
	char *auth_path, *token_file, *role_id, *secret_id_file, *role, *jwt_file, *cert_role;

	char *token; /* secmem */
	double obtained; /* CLOCK_MONOTONIC seconds */
	long ttl; /* seconds; 0 = does not expire or unknown */
	int renewable;
	int dead; /* the server refused it: do not renew */
	_Atomic long ttl_seen; /* vault_session_ttl_left's last answer */
	struct stat st; /* token file identity when read */
};

static pthread_mutex_t sessions_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t renew_cond = PTHREAD_COND_INITIALIZER;
static struct vault_session *sessions;
static pthread_t renewer;
static int renewer_running, renewer_stop;
static unsigned renew_gen; /* under sessions_lock: a token's clock changed */

/* Tells the renewer that a token's clock changed. Called with a session's lock held:
 * the renewer never holds sessions_lock while it waits for a session's. */
static void renew_wake(void)
{
	pthread_mutex_lock(&sessions_lock);
	renew_gen++;
	pthread_cond_broadcast(&renew_cond);
	pthread_mutex_unlock(&sessions_lock);
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *sdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void session_free(struct vault_session *s)
{
	secmem_free(s->token);
	free(s->key);
	free(s->c.addr);
	free(s->c.ca_file);
	free(s->c.ca_path);
	free(s->c.cert);
	free(s->c.key);
	free(s->c.server_name);
	free(s->auth_ns);
	free(s->auth_path);
	free(s->token_file);
	free(s->role_id);
	free(s->secret_id_file);
	free(s->role);
	free(s->jwt_file);
	free(s->cert_role);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

#define S(x) ((x) ? (x) : "")

static struct vault_session *session_get(struct vault *v)
{
	struct vault_session *s;
	char *key;

	if (v->sess)
		return v->sess;
	if (asprintf(&key, "%s|%s|%s|%s|%s|%s|%d|%d|%s|%s|%s|%s|%s|%s|%ld|%ld", v->c.addr,
		     v->auth_ns, S(v->c.ca_file), S(v->c.ca_path), S(v->c.cert),
		     S(v->c.server_name), v->c.skip_verify, (int)v->auth, S(v->auth_path),
		     S(v->token_file), S(v->role_id), S(v->secret_id_file), S(v->role),
		     S(v->jwt_file), v->c.connect_ms, v->c.timeout_ms) < 0)
		return NULL;
	pthread_mutex_lock(&sessions_lock);
	for (s = sessions; s; s = s->next)
		if (!strcmp(s->key, key))
			break;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->key = key;
		key = NULL;
		pthread_mutex_init(&s->lock, NULL);
		atomic_init(&s->ttl_seen, -1);
		s->c = (struct vault_conn){ .addr = sdup(v->c.addr),
					    .ca_file = sdup(v->c.ca_file),
					    .ca_path = sdup(v->c.ca_path),
					    .cert = sdup(v->c.cert),
					    .key = sdup(v->c.key),
					    .server_name = sdup(v->c.server_name),
					    .skip_verify = v->c.skip_verify,
					    .connect_ms = v->c.connect_ms,
					    .timeout_ms = v->c.timeout_ms };
		s->auth_ns = sdup(v->auth_ns);
		s->auth = v->auth;
		s->auth_path = sdup(v->auth_path);
		s->token_file = sdup(v->token_file);
		s->role_id = sdup(v->role_id);
		s->secret_id_file = sdup(v->secret_id_file);
		s->role = sdup(v->role);
		s->jwt_file = sdup(v->jwt_file);
		s->cert_role = sdup(v->cert_role);
		if (!s->c.addr || !s->auth_ns) {
			session_free(s);
			s = NULL;
		} else {
			s->next = sessions;
			sessions = s;
		}
	}
	pthread_mutex_unlock(&sessions_lock);
	free(key);
	v->sess = s;
	return s;
}

static int read_trimmed(const char *path, size_t max, char **out)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	r = read_secret_file(path, max, &buf, &len);
	if (r < 0)
		return r;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	if (!len || memchr(buf, '\n', len)) {
		secmem_free(buf);
		return -EINVAL;
	}
	*out = (char *)buf;
	return 0;
}

static int set_token(struct vault_session *s, const char *tok, long ttl, int renewable)
{
	size_t n = strlen(tok);
	char *t = secmem_alloc(n + 1);

	if (!t)
		return -ENOMEM;
	memcpy(t, tok, n + 1);
	secmem_free(s->token);
	s->token = t;
	s->obtained = mono();
	s->ttl = ttl;
	s->renewable = renewable;
	s->dead = 0;
	renew_wake();
	return 0;
}

/* Takes the auth block of a login or renew answer. */
static int take_auth(struct kms *k, struct vault_session *s, struct json_object *o,
		     const char *what)
{
	struct json_object *auth = jget_obj(o, "auth");
	const char *tok = jget_str(auth, "client_token");
	long long ttl = jget_int(auth, "lease_duration");
	int ren = jget_bool(auth, "renewable");

	if (!tok || !tok[0] || ttl < 0)
		return kms_fail(k, -EPROTO,
				"Vault %s answer lacks auth.client_token or "
				"auth.lease_duration",
				what);
	return set_token(s, tok, (long)ttl, ren == 1);
}

static int login(struct kms *k, struct vault_session *s)
{
	_cleanup_json_wipe_ struct json_object *body = json_object_new_object(), *o = NULL;
	_cleanup_secmem_ char *secret = NULL;
	char err[512] = "", errs[300];
	long st;
	int r;

	if (!body)
		return -ENOMEM;
	switch (s->auth) {
	case VAULT_AUTH_APPROLE:
		json_object_object_add(body, "role_id", json_object_new_string(s->role_id));
		if (s->secret_id_file) {
			r = read_trimmed(s->secret_id_file, TOKEN_MAX, &secret);
			if (r < 0)
				return kms_fail(k, r, "cannot read AppRole secret_id file %s: %s%s",
						s->secret_id_file, strerror(-r),
						r == -EPERM ? " (must be root-owned, mode 0600)"
							    : "");
			json_object_object_add(body, "secret_id", json_object_new_string(secret));
		}
		break;
	case VAULT_AUTH_KUBERNETES:
		r = read_trimmed(s->jwt_file, (size_t)64 * 1024, &secret);
		if (r < 0)
			return kms_fail(k, r, "cannot read the service-account token %s: %s%s",
					s->jwt_file, strerror(-r),
					r == -EPERM ? " (must be root-owned, mode 0600)" : "");
		json_object_object_add(body, "role", json_object_new_string(s->role));
		json_object_object_add(body, "jwt", json_object_new_string(secret));
		break;
	case VAULT_AUTH_CERT:
		if (s->cert_role)
			json_object_object_add(body, "name", json_object_new_string(s->cert_role));
		break;
	case VAULT_AUTH_TOKEN:
		return -EINVAL;
	}
	r = vault_raw(&s->c, "POST", s->auth_path, s->auth_ns, NULL, body, &st, &o, err,
		      sizeof(err));
	if (r < 0)
		return kms_fail(k, r, "Vault login at %s/v1/%s: %s", s->c.addr, s->auth_path, err);
	if (st != 200) {
		vault_errors(o, errs, sizeof(errs));
		/* Same words as an operation on a sealed Vault: operators grep for them. */
		if (st == 503 && strstr(errs, "sealed"))
			return kms_fail(k, -EAGAIN,
					"Vault at %s is sealed (503); unseal it — pvenc retries "
					"(login at %s)",
					s->c.addr, s->auth_path);
		if (st == 503 || st == 429)
			return kms_fail(k, -EAGAIN, "Vault login at %s/v1/%s: HTTP %ld%s%s",
					s->c.addr, s->auth_path, st, errs[0] ? ": " : "", errs);
		return kms_fail(k, st >= 500 ? -EIO : -EACCES,
				"Vault login at %s/v1/%s%s%s refused (HTTP %ld%s%s)", s->c.addr,
				s->auth_path, s->auth_ns[0] ? " in namespace " : "", s->auth_ns, st,
				errs[0] ? ": " : "", errs);
	}
	r = take_auth(k, s, o, "login");
	if (r == 0)
		log_debug("vault=%s event=login path=%s ttl=%ld renewable=%d", s->c.addr,
			  s->auth_path, s->ttl, s->renewable);
	return r;
}

/* renew-self; 0 on success. Caller holds s->lock. */
static int renew(struct kms *k, struct vault_session *s)
{
	_cleanup_json_wipe_ struct json_object *o = NULL;
	char err[512] = "";
	long st;
	int r;

	r = vault_raw(&s->c, "POST", "auth/token/renew-self", s->auth_ns, s->token, NULL, &st, &o,
		      err, sizeof(err));
	if (r < 0)
		return kms_fail(k, r, "Vault token renewal: %s", err);
	if (st != 200) {
		if (st == 403)
			s->dead = 1;
		return kms_fail(k, st == 403 ? -EKEYEXPIRED : -EIO,
				"Vault token renewal at %s answered HTTP %ld", s->c.addr, st);
	}
	r = take_auth(k, s, o, "renew-self");
	if (r == 0)
		log_debug("vault=%s event=token-renewed ttl=%ld", s->c.addr, s->ttl);
	return r;
}

/* lookup-self for a token read from a file: its TTL decides when to renew. */
static void lookup(struct vault_session *s)
{
	_cleanup_json_wipe_ struct json_object *o = NULL;
	struct json_object *d;
	char err[512];
	long st;

	if (vault_raw(&s->c, "GET", "auth/token/lookup-self", s->auth_ns, s->token, NULL, &st, &o,
		      err, sizeof(err)) < 0 ||
	    st != 200)
		return; /* policies without lookup-self: the token is used as it is */
	d = jget_obj(o, "data");
	if (jget_int(d, "ttl") > 0) {
		s->ttl = (long)jget_int(d, "ttl");
		s->obtained = mono();
	}
	s->renewable = jget_bool(d, "renewable") == 1;
	renew_wake();
}

static int load_token_file(struct kms *k, struct vault_session *s, int force)
{
	struct stat st;
	char *tok = NULL;
	int r;

	if (stat(s->token_file, &st) < 0)
		return kms_fail(k, -errno, "cannot read the Vault token file %s: %s", s->token_file,
				strerror(errno));
	if (!force && s->token && st.st_ino == s->st.st_ino && st.st_dev == s->st.st_dev &&
	    st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec && st.st_size == s->st.st_size)
		return 0;
	r = read_trimmed(s->token_file, TOKEN_MAX, &tok);
	if (r < 0)
		return kms_fail(k, r, "cannot read the Vault token file %s: %s", s->token_file,
				r == -EPERM    ? "it must be owned by root with mode 0600"
				: r == -EINVAL ? "it must hold one token on one line"
					       : strerror(-r));
	r = set_token(s, tok, 0, 0);
	secmem_free(tok);
	if (r < 0)
		return r;
	s->st = st;
	if (renewer_running)
		lookup(s);
	return 1;
}

int vault_session_token(struct kms *k, struct vault *v, char **token)
{
	struct vault_session *s = session_get(v);
	double now;
	int r = 0;

	if (!s)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (s->auth == VAULT_AUTH_TOKEN) {
		r = load_token_file(k, s, 0);
		if (r < 0)
			goto out;
	}
	now = mono();
	if (s->token && s->ttl > 0 && now >= s->obtained + (double)s->ttl) {
		/* Expired: log in again; a token file can only be replaced by the operator. */
		if (s->auth == VAULT_AUTH_TOKEN) {
			r = kms_fail(
				k, -EKEYEXPIRED,
				"the Vault token in %s expired %.0f s ago (TTL %ld s); write "
				"a fresh token to that file; volumes already open keep working",
				s->token_file, now - s->obtained - (double)s->ttl, s->ttl);
			goto out;
		}
		secmem_free(s->token);
		s->token = NULL;
	} else if (s->token && s->renewable && s->ttl > 0 && !s->dead &&
		   now >= s->obtained + (double)s->ttl * 2 / 3) {
		if (renew(k, s) < 0 && s->auth != VAULT_AUTH_TOKEN) {
			secmem_free(s->token);
			s->token = NULL;
		}
		r = 0;
	}
	if (!s->token) {
		r = login(k, s);
		if (r < 0)
			goto out;
	}
	if (!s->token) {
		r = -ENOKEY;
		goto out;
	}
	*token = secmem_alloc(strlen(s->token) + 1);
	if (!*token)
		r = -ENOMEM;
	else
		memcpy(*token, s->token, strlen(s->token) + 1);
out:
	pthread_mutex_unlock(&s->lock);
	return r < 0 ? r : 0;
}

int vault_session_refresh(struct kms *k, struct vault *v, const char *used)
{
	struct vault_session *s = session_get(v);
	int r = 0;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->token && strcmp(s->token, used) != 0) {
		r = 1; /* someone already replaced it */
	} else if (s->auth == VAULT_AUTH_TOKEN) {
		r = load_token_file(k, s, 0) > 0;
	} else {
		secmem_free(s->token);
		s->token = NULL;
		r = login(k, s) == 0;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int vault_session_token_dead(struct vault *v, const char *token)
{
	_cleanup_json_wipe_ struct json_object *o = NULL;
	char err[256];
	long st;

	if (vault_raw(&v->c, "GET", "auth/token/lookup-self", v->auth_ns, token, NULL, &st, &o, err,
		      sizeof(err)) < 0)
		return 0;
	return st == 403;
}

/* ---- background renewal (agent) ---- */

static void *renew_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sessions_lock);
	while (!renewer_stop) {
		/* The list only grows at its head and is freed after this thread is joined:
		 * it is walked without sessions_lock, so that a slow Vault's renewal holds up
		 * no other entry (session_get takes sessions_lock on every open). */
		struct vault_session *head = sessions;
		unsigned gen = renew_gen;
		double now, next;
		struct timespec ts;

		pthread_mutex_unlock(&sessions_lock);
		now = mono();
		next = now + 3600;
		for (struct vault_session *s = head; s; s = s->next) {
			pthread_mutex_lock(&s->lock);
			if (s->token && s->renewable && s->ttl > 0 && !s->dead) {
				double due = s->obtained + (double)s->ttl * 2 / 3;

				if (now >= due) {
					struct kms k = { .id = (char *)"renewer" };

					if (renew(&k, s) < 0)
						log_warn("vault=%s event=token-renew-failed %s",
							 s->c.addr, k.error);
					due = s->obtained + (double)s->ttl * 2 / 3;
					if (s->dead || !s->renewable)
						due = now + 3600;
					else if (due <= now)
						due = now + 1;
				}
				if (due < next)
					next = due;
			}
			pthread_mutex_unlock(&s->lock);
		}
		pthread_mutex_lock(&sessions_lock);
		if (renewer_stop || gen != renew_gen)
			continue; /* a token changed during the walk: walk again */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		next -= mono();
		if (next < 0.2)
			next = 0.2;
		ts.tv_sec += (time_t)next;
		ts.tv_nsec += (long)((next - (double)(long)next) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&renew_cond, &sessions_lock, &ts);
	}
	pthread_mutex_unlock(&sessions_lock);
	return NULL;
}

void vault_start_renewer(void)
{
	pthread_condattr_t ca;

	pthread_mutex_lock(&sessions_lock);
	if (!renewer_running) {
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_destroy(&renew_cond);
		pthread_cond_init(&renew_cond, &ca);
		pthread_condattr_destroy(&ca);
		renewer_stop = 0;
		if (pthread_create(&renewer, NULL, renew_loop, NULL) == 0)
			renewer_running = 1;
	}
	pthread_mutex_unlock(&sessions_lock);
}

void vault_cleanup(void)
{
	/* The health table points at sessions for their tokens' time-to-live. */
	kms_health_reset();
	pthread_mutex_lock(&sessions_lock);
	if (renewer_running) {
		renewer_stop = 1;
		pthread_cond_broadcast(&renew_cond);
		pthread_mutex_unlock(&sessions_lock);
		pthread_join(renewer, NULL);
		pthread_mutex_lock(&sessions_lock);
		renewer_running = 0;
	}
	while (sessions) {
		struct vault_session *s = sessions;

		sessions = s->next;
		session_free(s);
	}
	pthread_mutex_unlock(&sessions_lock);
}

long vault_session_ttl_left(const void *arg)
{
	struct vault_session *s = (struct vault_session *)arg;
	long left = -1;

	/* A login or renewal may hold the lock for a whole request: the last answer then. */
	if (pthread_mutex_trylock(&s->lock) != 0)
		return atomic_load(&s->ttl_seen);
	if (s->token && s->ttl > 0 && !s->dead) {
		double l = s->obtained + (double)s->ttl - mono();

		left = l > 0 ? (long)l : 0;
	} else if (s->dead) {
		left = 0;
	}
	atomic_store(&s->ttl_seen, left);
	pthread_mutex_unlock(&s->lock);
	return left;
}
