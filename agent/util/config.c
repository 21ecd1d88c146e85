// SPDX-License-Identifier: MIT
#include "util/config.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "util/kms_path.h"
#include "util/macro.h"
#include "util/schedule.h"

const struct config_key config_keys[] = {
	{ "ceph", "conf", "path of ceph.conf (default: CEPH_CONF or /etc/ceph/ceph.conf)" },
	{ "ceph", "id", "Ceph client id without 'client.' (default: admin)" },
	{ "kms", "config", "path of the KMS entries, JSON (default: /etc/pvenc/kms.json)" },
	{ "ceph-csi", "cluster-id",
	  "ceph-csi clusterID, to derive the volume handle of ceph-csi volumes" },
	{ "open", "discards", "pass discards through dm-crypt (yes|no, default yes)" },
	{ "open", "no-read-workqueue", "decrypt reads inline (yes|no, default no)" },
	{ "open", "no-write-workqueue", "encrypt writes inline (yes|no, default no)" },
	{ "agent", "socket", "control socket of pvenc-agent (default /run/pvenc/control)" },
	{ "agent", "jobs", "volume operations the agent runs at once (default 8)" },
	{ "agent", "retry-max",
	  "longest wait between retries of a failed open, seconds (default 300)" },
	{ "agent", "retry-limit",
	  "attempts before a failed open is given up, 0 = never (default 0)" },
	{ "encrypt-by-default", "POOL/NAMESPACE-glob",
	  "KMS id: empty images mapped there are formatted on first map" },
	{ "rotation", "schedule",
	  "DEK rotation for every volume: @hourly|@daily|@weekly|@monthly|@yearly|@every N[smhd]"
	  "|off (default off)" },
	{ "rotation", "precedence",
	  "config (namespace > pool > global > image, default) or image (image > namespace > "
	  "pool > global)" },
	{ "rotation", "image-minimum",
	  "shortest period a schedule from image metadata may ask for: a schedule, or off "
	  "(default @hourly)" },
	{ "rotation", "check-interval",
	  "seconds between the agent's looks for due rotations (default 60)" },
	{ "rotation-schedule", "POOL or POOL/NAMESPACE", "schedule for that pool or namespace" },
};
const size_t config_keys_count = ARRAY_SIZE(config_keys);

void config_defaults(struct pvenc_config *c)
{
	memset(c, 0, sizeof(*c));
	(void)snprintf(c->kms_config, sizeof(c->kms_config), "%s", PVENC_KMS_CONFIG_PATH);
	c->discards = 1;
	/* dm-crypt's workqueues spread decryption over the CPUs; inline decryption ran
	 * large reads on rbd at 0.74x of that (Documentation/performance.md). */
	c->no_read_wq = 0;
	c->no_write_wq = 0;
	(void)snprintf(c->agent_socket, sizeof(c->agent_socket), "%s", PVENC_SOCKET_DEFAULT);
	c->jobs = 8;
	c->retry_max = 300;
	c->retry_limit = 0;
	(void)snprintf(c->rotation, sizeof(c->rotation), "off");
	/* Image metadata is the pool writer's: by default the operator's schedules win,
	 * and an image's own cannot ask for more than a rotation an hour. */
	c->rotation_config_first = 1;
	c->rotation_image_min_s = 3600;
	c->rotation_check_s = 60;
}

const char *config_rotation(const struct pvenc_config *c, const char *pool, const char *ns,
			    const char *image_schedule, const char **source)
{
	const char *ns_s = NULL, *pool_s = NULL;
	char key[600];

	(void)snprintf(key, sizeof(key), "%s/%s", pool, ns);
	for (int i = 0; i < c->nrotation_at; i++) {
		if (ns[0] && !strcmp(c->rotation_at[i].where, key))
			ns_s = c->rotation_at[i].schedule;
		if (!strcmp(c->rotation_at[i].where, pool))
			pool_s = c->rotation_at[i].schedule;
	}
	if (image_schedule && !c->rotation_config_first) {
		*source = "image";
		return image_schedule;
	}
	if (ns_s) {
		*source = "namespace";
		return ns_s;
	}
	if (pool_s) {
		*source = "pool";
		return pool_s;
	}
	/* config first: the image's own schedule only when the global one is unset. */
	if (image_schedule && strcmp(c->rotation, "off") == 0) {
		*source = "image";
		return image_schedule;
	}
	*source = "global";
	return c->rotation;
}

const char *config_policy_kms(const struct pvenc_config *c, const char *pool, const char *ns,
			      int *dry_run)
{
	char key[600];

	(void)snprintf(key, sizeof(key), "%s/%s", pool, ns);
	for (int i = 0; i < c->npolicy; i++)
		if (fnmatch(c->policy[i].glob, key, 0) == 0) {
			if (dry_run)
				*dry_run = c->policy[i].dry_run;
			return c->policy[i].kms;
		}
	return NULL;
}

static int parse_int(const char *v, int min, int max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
		return -EINVAL;
	*out = (int)n;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on"))
		*out = 1;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int set_str(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, v, n + 1);
	return 0;
}

/* [encrypt-by-default] GLOB = KMS-ID [dry-run] */
static int add_policy(struct pvenc_config *c, const char *glob, const char *v)
{
	const char *sp = strpbrk(v, " \t");
	size_t idlen = sp ? (size_t)(sp - v) : strlen(v);

	if (c->npolicy == (int)ARRAY_SIZE(c->policy) || !*glob || !*v ||
	    idlen >= sizeof(c->policy[0].kms))
		return -EINVAL;
	c->policy[c->npolicy].dry_run = 0;
	if (sp) {
		sp += strspn(sp, " \t");
		if (strcmp(sp, "dry-run") != 0)
			return -EINVAL;
		c->policy[c->npolicy].dry_run = 1;
	}
	memcpy(c->policy[c->npolicy].kms, v, idlen);
	c->policy[c->npolicy].kms[idlen] = '\0';
	if (set_str(c->policy[c->npolicy].glob, sizeof(c->policy[0].glob), glob) < 0)
		return -EINVAL;
	c->npolicy++;
	return 0;
}

static int apply(struct pvenc_config *c, const char *sec, const char *key, const char *v)
{
	int64_t period;

	if (!strcmp(sec, "ceph") && !strcmp(key, "conf"))
		return set_str(c->ceph_conf, sizeof(c->ceph_conf), v);
	if (!strcmp(sec, "ceph") && !strcmp(key, "id"))
		return set_str(c->ceph_id, sizeof(c->ceph_id), v);
	if (!strcmp(sec, "kms") && !strcmp(key, "config"))
		return set_str(c->kms_config, sizeof(c->kms_config), v);
	if (!strcmp(sec, "ceph-csi") && !strcmp(key, "cluster-id"))
		return set_str(c->csi_cluster_id, sizeof(c->csi_cluster_id), v);
	if (!strcmp(sec, "open") && !strcmp(key, "discards"))
		return parse_bool(v, &c->discards);
	if (!strcmp(sec, "open") && !strcmp(key, "no-read-workqueue"))
		return parse_bool(v, &c->no_read_wq);
	if (!strcmp(sec, "open") && !strcmp(key, "no-write-workqueue"))
		return parse_bool(v, &c->no_write_wq);
	if (!strcmp(sec, "agent") && !strcmp(key, "socket"))
		return v[0] == '/' ? set_str(c->agent_socket, sizeof(c->agent_socket), v) : -EINVAL;
	if (!strcmp(sec, "agent") && !strcmp(key, "jobs"))
		return parse_int(v, 1, 256, &c->jobs);
	if (!strcmp(sec, "agent") && !strcmp(key, "retry-max"))
		return parse_int(v, 1, 86400, &c->retry_max);
	if (!strcmp(sec, "agent") && !strcmp(key, "retry-limit"))
		return parse_int(v, 0, 1000000, &c->retry_limit);
	if (!strcmp(sec, "rotation") && !strcmp(key, "schedule"))
		return schedule_parse(v, &period) < 0
			       ? -EINVAL
			       : set_str(c->rotation, sizeof(c->rotation), v);
	if (!strcmp(sec, "rotation") && !strcmp(key, "precedence")) {
		if (strcmp(v, "image") != 0 && strcmp(v, "config") != 0)
			return -EINVAL;
		c->rotation_config_first = !strcmp(v, "config");
		return 0;
	}
	if (!strcmp(sec, "rotation") && !strcmp(key, "image-minimum")) {
		if (schedule_parse(v, &period) < 0)
			return -EINVAL;
		c->rotation_image_min_s = period;
		return 0;
	}
	if (!strcmp(sec, "rotation") && !strcmp(key, "check-interval"))
		return parse_int(v, 1, 86400, &c->rotation_check_s);
	if (!strcmp(sec, "rotation-schedule")) {
		const char *slash = strchr(key, '/');

		if (c->nrotation_at == (int)ARRAY_SIZE(c->rotation_at) || !*key ||
		    (slash && strchr(slash + 1, '/')) || schedule_parse(v, &period) < 0)
			return -EINVAL;
		if (set_str(c->rotation_at[c->nrotation_at].where, sizeof(c->rotation_at[0].where),
			    key) < 0 ||
		    set_str(c->rotation_at[c->nrotation_at].schedule,
			    sizeof(c->rotation_at[0].schedule), v) < 0)
			return -EINVAL;
		c->nrotation_at++;
		return 0;
	}
	if (!strcmp(sec, "encrypt-by-default"))
		return add_policy(c, key, v);
	return -ENOENT;
}

int config_parse(const char *text, const char *name, struct pvenc_config *c, char *err,
		 size_t errlen)
{
	char section[32] = "";
	const char *p = text;
	int lineno = 0;

	while (*p) {
		char line[1024], *s, *eq;
		size_t n = strcspn(p, "\n");
		int r;

		lineno++;
		if (n >= sizeof(line)) {
			(void)snprintf(err, errlen, "%s:%d: line too long", name, lineno);
			return -EINVAL;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (p[n] == '\n');
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');

			if (!e || e[1] != '\0' || e - s - 1 <= 0 ||
			    (size_t)(e - s - 1) >= sizeof(section)) {
				(void)snprintf(err, errlen, "%s:%d: malformed section header", name,
					       lineno);
				return -EINVAL;
			}
			*e = '\0';
			(void)snprintf(section, sizeof(section), "%s", s + 1);
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			(void)snprintf(err, errlen, "%s:%d: expected 'key = value'", name, lineno);
			return -EINVAL;
		}
		*eq = '\0';
		r = apply(c, section, trim(s), trim(eq + 1));
		if (r == -ENOENT) {
			(void)snprintf(err, errlen, "%s:%d: unknown key '%s' in section [%s]", name,
				       lineno, trim(s), section);
			return -EINVAL;
		}
		if (r < 0) {
			(void)snprintf(err, errlen, "%s:%d: invalid value for %s.%s", name, lineno,
				       section, trim(s));
			return -EINVAL;
		}
	}
	return 0;
}

int config_load(const char *path, int required, struct pvenc_config *c, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	int r;

	config_defaults(c);
	r = read_file(path, 64 << 10, &text, NULL);
	if (r == -ENOENT && !required)
		return 0;
	if (r < 0) {
		(void)snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	return config_parse(text, path, c, err, errlen);
}
