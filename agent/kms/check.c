// SPDX-License-Identifier: MIT
/* `pvencctl kms check`: the provider's own connection findings, then a round trip of a
 * random probe key, one line per step. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "kms/kms.h"
#include "kms/provider.h"
#include "util/secmem.h"

void kms_report(const struct kms_check_ops *c, int ok, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->line(c->u, ok, buf);
}

/* Round trip of a random probe key, under a throwaway volume id. */
static int check_probe(struct kms *k, const struct kms_check_ops *c)
{
	_cleanup_secmem_ uint8_t *probe = secmem_alloc(32), *back = NULL;
	_cleanup_free_ char *wrapped = NULL;
	uint8_t rnd[8];
	char id[64], other[80];
	struct kms_binding b = { .volume_id = id }, ob = { .volume_id = other };
	size_t len = 0;
	int r;

	if (!probe)
		return -ENOMEM;
	if (getrandom(probe, 32, 0) != 32 || getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	(void)snprintf(id, sizeof(id), "pvenc-check-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		       rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	(void)snprintf(other, sizeof(other), "%s-other", id);
	if (kms_is_envelope(k)) {
		r = kms_wrap(k, &b, probe, 32, &wrapped);
		kms_report(c, r == 0, "wrap a random 256-bit probe key%s%s", r ? ": " : "",
			   r ? k->error : "");
		if (r < 0)
			return r;
		r = kms_unwrap(k, &b, wrapped, &back, &len);
		if (r == 0 && (len != 32 || memcmp(back, probe, 32) != 0))
			r = kms_fail(k, -EBADMSG, "the unwrapped probe differs from the original");
		kms_report(c, r == 0, "unwrap it again%s%s", r ? ": " : "", r ? k->error : "");
		if (r < 0)
			return r;
		secmem_free(back);
		back = NULL;
		r = kms_unwrap(k, &ob, wrapped, &back, &len);
		kms_report(c, r < 0,
			   r < 0 ? "a wrapped key does not unwrap for another volume"
				 : "a wrapped key UNWRAPS for another volume: binding is not "
				   "enforced");
		return r < 0 ? 0 : -EKEYREJECTED;
	}
	r = kms_store(k, &b, probe, 32);
	kms_report(c, r == 0, "store a random 256-bit probe key as %s%s%s", id, r ? ": " : "",
		   r ? k->error : "");
	if (r < 0)
		return r;
	r = kms_fetch(k, &b, &back, &len);
	if (r == 0 && (len != 32 || memcmp(back, probe, 32) != 0))
		r = kms_fail(k, -EBADMSG, "the fetched probe differs from the original");
	kms_report(c, r == 0, "fetch it again%s%s", r ? ": " : "", r ? k->error : "");
	{
		int rr = kms_remove(k, &b);

		kms_report(c, rr == 0, "remove it%s%s", rr ? ": " : "", rr ? k->error : "");
		if (r == 0)
			r = rr;
	}
	return r;
}

int kms_check(struct kms *k, const struct kms_check_ops *c)
{
	int r;

	kms_report(c, -1, "KMS '%s': type %s, endpoint %s", k->id, k->ops->type,
		   k->endpoint ? k->endpoint : "-");
	if (k->ops->check) {
		r = k->ops->check(k, c);
		if (r < 0)
			return r;
	}
	return check_probe(k, c);
}
