// SPDX-License-Identifier: MIT
/* The rotation schedule: which period applies to a volume (config_rotation's
 * precedence) and whether a rotation is due; the agent's checks call
 * volume_rotate_if_due. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/schedule.h"
#include "volume/internal.h"

/* Nodes' clocks differ a little; a rotated-at further ahead than this is not skew but a
 * hostile or broken value that would put the schedule off forever: it counts as due. */
#define ROTATION_MAX_SKEW (24 * 3600)

int vol_rotation_due(int64_t rotated_at, int64_t period, int64_t now)
{
	int64_t age = now - rotated_at;

	return age < -ROTATION_MAX_SKEW || age >= period;
}

int64_t vol_rotation_period(const struct pvenc_config *cfg, const struct image_spec *spec,
			    const struct vol_meta *m, const char **sched, const char **src)
{
	const char *s, *from;
	int64_t period = 0;

	if (spec->snap[0] || m->kind != VOL_PVENC || m->state != STATE_FORMATTED)
		return 0;
	s = config_rotation(cfg, spec->pool, spec->ns, m->rotation[0] ? m->rotation : NULL, &from);
	if (sched)
		*sched = s;
	if (src)
		*src = from;
	if (schedule_parse(s, &period) < 0)
		return 0;
	/* Whoever can write to the pool writes pvenc.rotation: its schedule is held to
	 * [rotation] image-minimum, so that "@every 1s" cannot churn keys and the KMS. */
	if (period > 0 && !strcmp(from, "image") && period < cfg->rotation_image_min_s)
		period = cfg->rotation_image_min_s;
	return period;
}

int volume_rotate_if_due(struct pvenc_ctx *ctx, struct vol *v, unsigned dry_run,
			 struct rotate_result *res)
{
	const char *sched = NULL, *src = NULL;
	int64_t period;
	int r;

	memset(res, 0, sizeof(*res));
	res->skipped = 1;
	if (v->dev.spec.snap[0])
		return 0; /* snapshots are read-only; their keys rotate with the image */
	r = vol_need(ctx, v, VOL_META);
	if (r < 0)
		return r;
	period = vol_rotation_period(&ctx->cfg, &v->dev.spec, &v->meta, &sched, &src);
	res->rotation_period = period;
	if (period == 0) {
		(void)snprintf(res->plan, sizeof(res->plan),
			       "would not rotate %s: its rotation schedule is off", v->name);
		return 0;
	}
	/* Not due and nothing to resume: no lock, no write. */
	if (v->meta.rotated_at && !v->meta.dek_next &&
	    !vol_rotation_due(v->meta.rotated_at, period, (int64_t)time(NULL))) {
		(void)snprintf(res->plan, sizeof(res->plan),
			       "would not rotate %s: not due (schedule \"%s\" from %s)", v->name,
			       sched, src);
		return 0;
	}
	log_debug("image=%s event=rotation-due schedule=\"%s\" from=%s", v->name, sched, src);
	r = volume_rotate(ctx, v, ROTATE_DEK | (dry_run ? ROTATE_DRY_RUN : 0), period, res);
	res->rotation_period = period;
	if (r == -EBUSY && res->skipped)
		r = 0; /* another node has it */
	return r;
}
