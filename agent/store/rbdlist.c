// SPDX-License-Identifier: MIT
/* Every RBD image of the cluster: pools, their namespaces, the images in each. */
#include <errno.h>
#include <stdio.h>
#include <rbd/librbd.h>
#include <stdlib.h>
#include <string.h>

#include "store/rbd.h"
#include "util/macro.h"

struct list {
	struct image_spec *v;
	size_t n, cap, odd;
};

static int add(struct list *l, const char *pool, const char *ns, const char *image)
{
	struct image_spec *s;

	/* Names come from whoever can write to the pool: only valid spec parts. */
	if (image_spec_check_name(pool, strlen(pool)) < 0 ||
	    (ns[0] && image_spec_check_name(ns, strlen(ns)) < 0) ||
	    image_spec_check_name(image, strlen(image)) < 0) {
		l->odd++;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		s = reallocarray(l->v, cap, sizeof(*s));
		if (!s)
			return -ENOMEM;
		l->v = s;
		l->cap = cap;
	}
	s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	(void)snprintf(s->pool, sizeof(s->pool), "%s", pool);
	(void)snprintf(s->ns, sizeof(s->ns), "%s", ns);
	(void)snprintf(s->image, sizeof(s->image), "%s", image);
	return 0;
}

/* The images of one namespace of an open pool. */
static int list_ns(rados_ioctx_t io, const char *pool, const char *ns, struct list *l)
{
	rbd_image_spec_t *img = NULL;
	size_t max = 64;
	int r;

	rados_ioctx_set_namespace(io, ns);
	for (;;) {
		img = calloc(max, sizeof(*img));
		if (!img)
			return -ENOMEM;
		r = rbd_list2(io, img, &max);
		if (r != -ERANGE)
			break;
		free(img);
	}
	if (r < 0) {
		free(img);
		return r == -ENOENT ? 0 : r; /* a pool that holds no RBD images */
	}
	r = 0;
	for (size_t i = 0; r == 0 && i < max; i++)
		r = add(l, pool, ns, img[i].name);
	rbd_image_spec_list_cleanup(img, max);
	free(img);
	return r;
}

/* The namespaces of an open pool ("" first); *names NUL-separated, malloc. */
static int namespaces(rados_ioctx_t io, char **names, size_t *size)
{
	int r;

	*size = 256;
	for (;;) {
		*names = calloc(1, *size + 1);
		if (!*names)
			return -ENOMEM;
		r = rbd_namespace_list(io, *names, size);
		if (r != -ERANGE)
			break;
		free(*names);
	}
	if (r < 0) /* no namespaces object: only the default namespace */
		*size = 0;
	return 0;
}

static int list_pool(struct cluster *c, const char *pool, struct list *l)
{
	_cleanup_free_ char *names = NULL;
	rados_ioctx_t io;
	size_t size;
	int r;

	if (rados_ioctx_create(c->cluster, pool, &io) < 0)
		return 0; /* gone since it was listed */
	r = namespaces(io, &names, &size);
	if (r == 0)
		r = list_ns(io, pool, "", l);
	for (size_t off = 0; r == 0 && off < size && names[off]; off += strlen(names + off) + 1)
		r = list_ns(io, pool, names + off, l);
	rados_ioctx_destroy(io);
	return r;
}

int cluster_list_images(struct cluster *c, struct image_spec **specs, size_t *n, size_t *odd)
{
	_cleanup_free_ char *pools = NULL;
	struct list l = { 0 };
	int len = 4096, r = 0;

	for (;;) {
		free(pools);
		pools = calloc(1, (size_t)len + 1);
		if (!pools)
			return -ENOMEM;
		r = rados_pool_list(c->cluster, pools, (size_t)len);
		if (r < 0)
			return r;
		if (r <= len)
			break;
		len = r;
	}
	for (const char *p = pools; r >= 0 && *p; p += strlen(p) + 1)
		r = list_pool(c, p, &l);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*specs = l.v;
	*n = l.n;
	*odd = l.odd;
	return 0;
}
