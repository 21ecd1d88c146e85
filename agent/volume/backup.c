// SPDX-License-Identifier: MIT
/*
 * Header backup and restore: the LUKS2 header (the image's first 16 MiB) together with
 * the key metadata of that moment, which change together on rotation. A restore puts
 * both back after a mistaken mkfs on /dev/rbdN or a lost header, and only onto the image
 * the backup was taken of, only when the DEK that metadata names opens that header.
 *
 * The file: "pvenc-header-backup 1\n", one JSON line (image, image id, pool id, when,
 * the header's SHA-256, the metadata), then the header's bytes. Nothing in it is secret
 * (the DEK is wrapped or in the KMS; keyslots need the DEK), but it is written 0600.
 */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypt/luks.h"
#include "util/fileio.h"
#include "util/macro.h"
#include "util/secmem.h"
#include "volume/internal.h"

#define BACKUP_MAGIC	"pvenc-header-backup 1\n"
#define BACKUP_JSON_MAX ((size_t)256 * 1024)

/* The keys that travel with the header: pvenc's and ceph-csi's. */
static const char *const backup_keys[] = {
	META_FORMAT,
	META_KMS,
	META_ENDPOINT,
	META_UUID,
	META_DEK,
	META_STATE,
	META_DEK_NEXT,
	META_DEK_VERSION,
	META_ROTATED_AT,
	META_ROTATION,
	META_BINDING,
	CSI_META_STATE,
	CSI_META_STATE_LEGACY,
	CSI_META_DEK,
	CSI_META_DEK_LEGACY,
	META_RECOVERY_KMS,
	META_RECOVERY_ENDPOINT,
	META_RECOVERY_KEY,
};

static void json_putp(struct json_object **o)
{
	json_object_put(*o);
}

static void sha256_hex(const uint8_t *buf, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned mdlen = 0;

	(void)EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	for (size_t i = 0; i < sizeof(md); i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int volume_header_backup(struct pvenc_ctx *ctx, struct vol *v, int fd)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	_cleanup_free_ uint8_t *hdr = NULL;
	_cleanup_img_ struct img *img = NULL;
	struct json_object *meta = json_object_new_object();
	struct verify_result vr;
	struct open_opts oo = { 0 };
	char cookie[40], sum[65];
	const char *line;
	int r, busy = 0;

	if (!o || !meta) {
		json_object_put(meta);
		return -ENOMEM;
	}
	json_object_object_add(o, "metadata", meta);
	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	/* A backup is for getting a working volume back: of one that opens now. */
	r = volume_verify(ctx, v, &oo, &vr);
	if (r < 0)
		return r;
	if (vr.level >= 2)
		return vol_fail(ctx, vr.plain ? -ENOMSG : -EKEYREJECTED,
				"%s: nothing to back up that would help: %s", v->name, vr.what);
	vol_forget(v);
	r = vol_open_image(ctx, &v->dev.spec, 1, &img);
	if (r < 0)
		return r;
	/* The rotation lease: header and metadata read as one state. */
	r = vol_take_lease(ctx, v, img, cookie, &busy);
	if (r < 0)
		return r;
	hdr = malloc(LUKS_HEADER_SIZE);
	r = hdr ? img_read(img, 0, LUKS_HEADER_SIZE, hdr) : -ENOMEM;
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(backup_keys); i++) {
		_cleanup_free_ char *val = NULL;
		int g = img_meta_get(img, backup_keys[i], &val);

		if (g == 0)
			json_object_object_add(meta, backup_keys[i], json_object_new_string(val));
		else if (g != -ENOENT)
			r = g;
	}
	vol_drop_lease(img, cookie);
	if (r < 0)
		return vol_fail(ctx, r, "cannot read %s: %s", v->name, strerror(-r));
	sha256_hex(hdr, LUKS_HEADER_SIZE, sum);
	json_object_object_add(o, "image", json_object_new_string(v->name));
	json_object_object_add(o, "image_id", json_object_new_string(img->loc.id));
	json_object_object_add(o, "pool_id", json_object_new_int64(img->loc.pool_id));
	json_object_object_add(o, "taken_at", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "header_bytes", json_object_new_int64(LUKS_HEADER_SIZE));
	json_object_object_add(o, "header_sha256", json_object_new_string(sum));
	line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!line)
		return -ENOMEM;
	r = fd_write_all(fd, BACKUP_MAGIC, strlen(BACKUP_MAGIC));
	if (r == 0)
		r = fd_write_all(fd, line, strlen(line));
	if (r == 0)
		r = fd_write_all(fd, "\n", 1);
	if (r == 0)
		r = fd_write_all(fd, hdr, LUKS_HEADER_SIZE);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		return vol_fail(ctx, r, "cannot write the backup of %s: %s", v->name, strerror(-r));
	return 0;
}

/* A backup file read back: its JSON and header, checked against their checksum. */
struct backup {
	struct json_object *o, *meta;
	uint8_t *hdr;
};

static void backup_done(struct backup *b)
{
	json_object_put(b->o);
	free(b->hdr);
}

static int backup_read(struct pvenc_ctx *ctx, int fd, struct backup *b)
{
	char magic[sizeof(BACKUP_MAGIC) - 1], sum[65];
	_cleanup_free_ char *line = NULL;
	struct json_object *x;
	size_t n = 0;
	int r;

	r = fd_read_all(fd, magic, sizeof(magic));
	if (r < 0 || memcmp(magic, BACKUP_MAGIC, sizeof(magic)) != 0)
		return vol_fail(ctx, -EBADMSG, "not a pvenc header backup (no '%.*s' line)",
				(int)strlen(BACKUP_MAGIC) - 1, BACKUP_MAGIC);
	line = malloc(BACKUP_JSON_MAX + 1);
	if (!line)
		return -ENOMEM;
	/* The JSON line, byte by byte up to its newline: the header follows it. */
	for (;;) {
		if (n == BACKUP_JSON_MAX || fd_read_all(fd, line + n, 1) < 0)
			return vol_fail(ctx, -EBADMSG,
					"the backup's description line is missing "
					"or too long");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	b->o = json_tokener_parse(line);
	if (!b->o || !json_object_is_type(b->o, json_type_object) ||
	    !json_object_object_get_ex(b->o, "metadata", &b->meta) ||
	    !json_object_is_type(b->meta, json_type_object) ||
	    !json_object_object_get_ex(b->o, "header_sha256", &x) ||
	    !json_object_is_type(x, json_type_string) ||
	    !json_object_object_get_ex(b->o, "header_bytes", &x) ||
	    json_object_get_int64(x) != (int64_t)LUKS_HEADER_SIZE)
		return vol_fail(ctx, -EBADMSG,
				"the backup's description line is not one pvenc "
				"writes");
	b->hdr = malloc(LUKS_HEADER_SIZE);
	if (!b->hdr)
		return -ENOMEM;
	if (fd_read_all(fd, b->hdr, LUKS_HEADER_SIZE) < 0)
		return vol_fail(ctx, -EBADMSG, "the backup is cut short: its header is not whole");
	sha256_hex(b->hdr, LUKS_HEADER_SIZE, sum);
	json_object_object_get_ex(b->o, "header_sha256", &x);
	if (strcmp(sum, json_object_get_string(x)) != 0)
		return vol_fail(ctx, -EBADMSG,
				"the backup's header does not match its checksum (damaged file)");
	return 0;
}

/* meta_get_fn over the backup's metadata. */
static int backup_getter(void *src, const char *key, char **value)
{
	struct json_object *meta = src, *x;

	if (!json_object_object_get_ex(meta, key, &x) || !json_object_is_type(x, json_type_string))
		return -ENOENT;
	*value = strdup(json_object_get_string(x));
	return *value ? 0 : -ENOMEM;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *x;

	return json_object_object_get_ex(o, k, &x) && json_object_is_type(x, json_type_string)
		       ? json_object_get_string(x)
		       : "";
}

/* Writes header and metadata; lease held. Running it again finishes a stopped one. */
static int restore_write(struct pvenc_ctx *ctx, struct img *img, const struct backup *b,
			 const char *name)
{
	int r = img_write(img, 0, LUKS_HEADER_SIZE, b->hdr);

	if (r == 0)
		r = img_flush(img);
	if (r < 0)
		return vol_fail(ctx, r, "cannot write the header of %s: %s", name, strerror(-r));
	for (size_t i = 0; i < ARRAY_SIZE(backup_keys); i++) {
		struct json_object *x;

		if (json_object_object_get_ex(b->meta, backup_keys[i], &x) &&
		    json_object_is_type(x, json_type_string))
			r = vol_set_meta(ctx, img, backup_keys[i], json_object_get_string(x));
		else if ((r = img_meta_remove(img, backup_keys[i])) == -ENOENT)
			r = 0;
		if (r < 0)
			return vol_fail(ctx, r,
					"cannot write the metadata of %s: %s; run the "
					"restore again",
					name, strerror(-r));
	}
	return 0;
}

int volume_header_restore(struct pvenc_ctx *ctx, struct vol *v, int fd, const struct open_opts *o,
			  struct dry_run *dry)
{
	_cleanup_(backup_done) struct backup b = { 0 };
	_cleanup_secmem_ uint8_t *dek = NULL;
	_cleanup_img_ struct img *img = NULL;
	struct dek_from from = { 0 };
	struct json_object *x;
	char cookie[40];
	size_t watchers, deklen = 0;
	int r, snaps, busy = 0;

	r = vol_need(ctx, v, VOL_IMAGE);
	if (r < 0)
		return r;
	r = backup_read(ctx, fd, &b);
	if (r < 0)
		return r;
	/* Read-only first: a read-only open is no watcher, so any watcher is a user. */
	r = vol_open_image(ctx, &v->dev.spec, 1, &img);
	if (r < 0)
		return r;
	/* Only onto the image it was taken of: its id, in its pool (a rename is fine). */
	if (strcmp(jstr(b.o, "image_id"), img->loc.id) != 0 ||
	    !json_object_object_get_ex(b.o, "pool_id", &x) ||
	    json_object_get_int64(x) != img->loc.pool_id)
		return vol_fail(ctx, -ESTALE,
				"the backup is of image %s (id %s), not of %s (id %s): refusing to "
				"restore it here",
				jstr(b.o, "image"), jstr(b.o, "image_id"), v->name, img->loc.id);
	r = img_users(img, &watchers, &snaps);
	if (r < 0)
		return vol_fail(ctx, r, "cannot list the users of %s: %s", v->name, strerror(-r));
	if (watchers)
		return vol_fail(ctx, -EBUSY,
				"%s is in use (mapped or open on some node); close and unmap it "
				"everywhere before a restore",
				v->name);
	/* The DEK the backup's metadata names must open the backup's header: a KMS-held
	 * DEK rotated since the backup would not, and the restore would lose the volume. */
	r = vol_read_meta(ctx, v, backup_getter, b.meta);
	if (r == 0 && (v->meta.kind == VOL_PLAIN || v->meta.state != STATE_FORMATTED))
		r = vol_fail(ctx, -EBADMSG, "the backup holds no formatted volume's metadata");
	if (r == 0)
		r = vol_fetch_dek(ctx, &img->loc, &v->meta, o, v->name, &dek, &deklen, &from);
	if (r == 0) {
		r = luks_check_header(b.hdr, LUKS_HEADER_SIZE,
				      v->meta.kind == VOL_PVENC ? v->meta.uuid : NULL, dek, deklen,
				      from.bound);
		if (r < 0)
			r = vol_fail(ctx, r == -ENOMEM ? r : -EKEYREJECTED,
				     "the DEK from KMS '%s' does not open the backup's header "
				     "(%s): a backup older than the last rotation of a key the KMS "
				     "keeps cannot come back",
				     from.kms, strerror(-r));
	}
	vol_forget(v);
	if (r < 0)
		return r;
	if (dry) {
		(void)snprintf(dry->text, sizeof(dry->text),
			       "would write the LUKS2 header of the backup (taken of %s, DEK from "
			       "KMS '%s' checked against it) and its key metadata back onto %s",
			       jstr(b.o, "image"), from.kms, v->name);
		return 0;
	}
	img_close(TAKE_PTR(img));
	r = vol_open_image(ctx, &v->dev.spec, 0, &img);
	if (r < 0)
		return r;
	r = vol_take_lease(ctx, v, img, cookie, &busy);
	if (r < 0)
		return r;
	r = restore_write(ctx, img, &b, v->name);
	vol_drop_lease(img, cookie);
	return r;
}
