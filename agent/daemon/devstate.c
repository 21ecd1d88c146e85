// SPDX-License-Identifier: MIT
#include "daemon/devstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"

/* Root's own file under a 0700 directory, but still bounded like any input. */
#define DEVSTATE_MAX (1 << 20)

static void json_putp(struct json_object **o)
{
	json_object_put(*o);
}

int devstate_save(const struct devtable *t, const char *path)
{
	_cleanup_(json_putp) struct json_object *arr = json_object_new_array();
	char tmp[PATH_MAX];
	const char *s;
	size_t n;
	int fd, r = 0;

	if (!arr)
		return -ENOMEM;
	for (const struct dev *d = t->devs; d; d = d->next) {
		struct json_object *o = json_object_new_object();

		if (!o)
			return -ENOMEM;
		json_object_object_add(o, "id", json_object_new_int(d->id));
		json_object_object_add(o, "image", json_object_new_string(d->image));
		json_object_object_add(o, "state",
				       json_object_new_string(dev_state_name(d->state)));
		json_object_object_add(o, "attempts", json_object_new_int(d->attempts));
		json_object_object_add(o, "since", json_object_new_int64((int64_t)d->since));
		json_object_object_add(o, "last_error", json_object_new_string(d->last_error));
		json_object_array_add(arr, o);
	}
	s = json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN);
	if (!s)
		return -ENOMEM;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	n = strlen(s);
	if (write(fd, s, n) != (ssize_t)n)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static enum dev_state state_by_name(const char *s)
{
	for (int i = 0; i < DEV_NSTATES; i++)
		if (!strcmp(s, dev_state_name((enum dev_state)i)))
			return (enum dev_state)i;
	return DEV_NSTATES;
}

static const char *str_of(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static int64_t int_of(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int)
		       ? json_object_get_int64(v)
		       : -1;
}

static void restore(struct dev *d, struct json_object *o)
{
	const char *image = str_of(o, "image"), *err = str_of(o, "last_error");
	const char *state = str_of(o, "state");
	int64_t attempts = int_of(o, "attempts"), since = int_of(o, "since");
	enum dev_state s;

	/* rbdN is reused for another image after an unmap: only the same image counts. */
	if (!image || !*image || strcmp(image, d->image) != 0 || !err || !state)
		return;
	s = state_by_name(state);
	if (s == DEV_NSTATES || attempts < 0 || attempts > 1000000 || since < 0)
		return;
	(void)snprintf(d->last_error, sizeof(d->last_error), "%s", err);
	d->attempts = (int)attempts;
	d->since = (time_t)since;
	/* Open, ignored and closed volumes are what the startup scan finds them to be. */
	if (s == DEV_RETRY || s == DEV_FAILED)
		d->state = s;
}

int devstate_load(struct devtable *t, const char *path)
{
	_cleanup_(json_putp) struct json_object *arr = NULL;
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t got;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size > DEVSTATE_MAX)
		return -EBADMSG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	got = read(fd, buf, (size_t)st.st_size);
	if (got < 0)
		return -errno;
	buf[got] = '\0';
	arr = json_tokener_parse(buf);
	if (!arr || !json_object_is_type(arr, json_type_array))
		return -EBADMSG;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		int64_t id = int_of(o, "id");
		struct dev *d;

		if (!json_object_is_type(o, json_type_object) || id < 0 || id > INT32_MAX)
			continue;
		d = devtab_get(t, (int)id, 0);
		if (d)
			restore(d, o);
	}
	return 0;
}
