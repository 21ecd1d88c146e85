// SPDX-License-Identifier: MIT
/*
 * KMS-held keys (vault-kv, KMIP register): the owner record (kms/keyrec.h) around the
 * provider's store, fetch and remove. A pool writer can copy a volume's UUID onto an
 * image of their own; the owner kept in the KMS is what stops that image from being
 * handed the key in another pool, from adopting it in a format, and from replacing or
 * removing it (a rotation or delete of the copy would destroy the original's key).
 */
#include <errno.h>
#include <string.h>

#include "kms/health.h"
#include "kms/keyrec.h"
#include "kms/provider.h"
#include "util/secmem.h"

/* Whether the key stored for @b may be used as @b asks: 0, or -EPERM with k->error. */
static int owner_ok(struct kms *k, const struct kms_binding *b, const uint8_t *raw, size_t len)
{
	struct keyrec rec;
	int r = keyrec_parse(raw, len, &rec);

	if (r < 0)
		return kms_fail(k, r,
				"the key KMS '%s' keeps for volume %s is a malformed pvenc "
				"record",
				k->id, b->volume_id);
	if (r == 0)
		return b->strict ? kms_fail(k, -EPERM,
					    "the key KMS '%s' keeps for volume %s records no "
					    "owner (stored by an earlier pvenc): only `pvencctl "
					    "rebind` claims it for an image",
					    k->id, b->volume_id)
				 : 0;
	if (!b->scope || !keyrec_scope_is(&rec, b->scope))
		return kms_fail(k, -EPERM,
				"the key KMS '%s' keeps for volume %s belongs to a volume in "
				"%.*s, not in %s (moved or copied? see pvencctl rebind)",
				k->id, b->volume_id, (int)rec.scope_len, rec.scope,
				b->scope ? b->scope : "(unbound)");
	if (b->image && !keyrec_image_is(&rec, b->image))
		return kms_fail(k, -EPERM,
				"the key KMS '%s' keeps for volume %s belongs to image id %.*s "
				"in %s, not to this image (id %s): a copy shares its original's "
				"key and must not replace or remove it",
				k->id, b->volume_id, (int)rec.image_len, rec.image, b->scope,
				b->image);
	return 0;
}

/* What the provider keeps for @b, checked against @b: 0, -ENOKEY, or an error. */
static int fetch_checked(struct kms *k, const struct kms_binding *b, uint8_t **raw, size_t *len)
{
	int r = kms_health_note(k, k->ops->fetch(k, b, raw, len));

	if (r < 0)
		return r;
	r = b->text ? 0 : owner_ok(k, b, *raw, *len);
	if (r < 0) {
		secmem_free(*raw);
		*raw = NULL;
	}
	return r;
}

int kms_fetch(struct kms *k, const struct kms_binding *b, uint8_t **dek, size_t *len)
{
	_cleanup_secmem_ uint8_t *raw = NULL;
	struct keyrec rec;
	size_t rawlen = 0;
	int r;

	k->error[0] = '\0';
	if (!k->ops->fetch)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s does not keep keys", k->ops->type);
	r = fetch_checked(k, b, &raw, &rawlen);
	if (r < 0)
		return r;
	if (b->recorded)
		*b->recorded = 0;
	if (b->text || keyrec_parse(raw, rawlen, &rec) == 0) {
		*dek = TAKE_PTR(raw);
		*len = rawlen;
		return 0;
	}
	if (b->recorded)
		*b->recorded = 1;
	*dek = secmem_alloc(rec.dek_len);
	if (!*dek)
		return -ENOMEM;
	memcpy(*dek, rec.dek, rec.dek_len);
	*len = rec.dek_len;
	return 0;
}

int kms_store(struct kms *k, const struct kms_binding *b, const uint8_t *dek, size_t len)
{
	_cleanup_secmem_ uint8_t *rec = NULL, *old = NULL;
	size_t reclen = 0, oldlen = 0;
	int r;

	k->error[0] = '\0';
	if (!k->ops->store)
		return kms_fail(k, -EOPNOTSUPP, "KMS type %s does not keep keys", k->ops->type);
	if (b->replace && !b->claim && !b->text) {
		/* Only a key this image owns is replaced: never one without an owner. */
		struct kms_binding mine = *b;

		mine.strict = 1;
		r = fetch_checked(k, &mine, &old, &oldlen);
		if (r < 0 && r != -ENOKEY && r != -ENOENT)
			return r;
	}
	if (!b->scope || b->text)
		return kms_health_note(k, k->ops->store(k, b, dek, len));
	r = keyrec_build(b->scope, b->image, dek, len, &rec, &reclen);
	if (r < 0)
		return kms_fail(k, r, "no owner to record with the key of volume %s", b->volume_id);
	return kms_health_note(k, k->ops->store(k, b, rec, reclen));
}

int kms_remove(struct kms *k, const struct kms_binding *b)
{
	_cleanup_secmem_ uint8_t *old = NULL;
	size_t oldlen = 0;
	int r;

	k->error[0] = '\0';
	if (!k->ops->remove)
		return 0; /* envelope KEKs are never deleted with a volume */
	if (b->scope && !b->text) {
		r = fetch_checked(k, b, &old, &oldlen);
		if (r == -ENOKEY || r == -ENOENT)
			return 0;
		if (r < 0)
			return r;
	}
	return kms_health_note(k, k->ops->remove(k, b));
}
