// SPDX-License-Identifier: MIT
/* rotate --dry-run: what a rotation would do, from the checks it would make. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/macro.h"
#include "volume/internal.h"

/* --dry-run: the volume's key checked as an open would (verify), the checks of a
 * rotation, whether it is due, and what it would do. Nothing written, no lease taken. */
int vol_rotate_plan(struct pvenc_ctx *ctx, struct vol *v, unsigned what, int64_t due_period,
		    struct rotate_result *res)
{
	_cleanup_img_ struct img *img = NULL;
	_cleanup_kms_ struct kms *k = NULL;
	const struct vol_meta *m = &v->meta;
	struct open_opts oo = { 0 };
	struct verify_result vr;
	int64_t t = (int64_t)time(NULL);
	int r;

	r = volume_verify(ctx, v, &oo, &vr);
	if (r < 0)
		return r;
	if (vr.level >= 2)
		return vol_fail(ctx, -EKEYREJECTED, "%s would not open: %s", v->name, vr.what);
	r = vol_open_for_change(ctx, v, (what & ROTATE_KEK) != 0, &img, &k);
	if (r < 0)
		return r;
	if (due_period > 0 && !m->dek_next &&
	    (m->rotated_at == 0 || !vol_rotation_due(m->rotated_at, due_period, t))) {
		res->skipped = 1;
		(void)snprintf(res->plan, sizeof(res->plan),
			       m->rotated_at
				       ? "would not rotate %s: not due (last DEK rotation %lld "
					 "s ago, every %lld s)"
				       : "would not rotate %s: its schedule starts now (a real "
					 "--if-due records the time)",
			       v->name, (long long)(t - m->rotated_at), (long long)due_period);
		return 0;
	}
	if (what & ROTATE_KEK)
		(void)snprintf(res->plan, sizeof(res->plan),
			       "would wrap the DEK of %s again under the newest key of KMS '%s' "
			       "(%s; now wrapped by key version %u); the DEK and the header stay",
			       v->name, m->kms, kms_type(k), kms_key_version(m->dek));
	else
		(void)snprintf(
			res->plan, sizeof(res->plan),
			"would %s the DEK of %s (version %u to %u): a new DEK %s KMS '%s' "
			"(%s), a new LUKS2 keyslot for it, then the old keyslot removed; the "
			"volume stays open",
			m->dek_next ? "finish the interrupted rotation of" : "rotate", v->name,
			(unsigned)m->dek_version, (unsigned)m->dek_version + 1,
			m->dek ? "wrapped by" : "kept in", m->kms, kms_type(k));
	vol_forget(v);
	return 0;
}
