// SPDX-License-Identifier: MIT
/* KMIP 1.4 request and response messages: one batch item per request, result status
 * and reason turned into errno and a sentence. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kms/kmip.h"
#include "kms/wrapfmt.h"
#include "util/secmem.h"

const char *kmip_op_name(int op)
{
	switch (op) {
	case OP_CREATE:
		return "Create";
	case OP_REGISTER:
		return "Register";
	case OP_LOCATE:
		return "Locate";
	case OP_GET:
		return "Get";
	case OP_ACTIVATE:
		return "Activate";
	case OP_REVOKE:
		return "Revoke";
	case OP_DESTROY:
		return "Destroy";
	case OP_QUERY:
		return "Query";
	case OP_ENCRYPT:
		return "Encrypt";
	case OP_DECRYPT:
		return "Decrypt";
	default:
		return "?";
	}
}

/* RequestMessage with one batch item for @op around the finished @payload. */
static int build_request(int op, struct ttlv_enc *payload, struct ttlv_enc *e)
{
	const uint8_t *pl;
	size_t pllen;
	int r = ttlv_finish(payload, &pl, &pllen);

	if (r < 0)
		return r;
	ttlv_begin(e, T_REQUEST_MESSAGE);
	ttlv_begin(e, T_REQUEST_HEADER);
	ttlv_begin(e, T_PROTOCOL_VERSION);
	ttlv_int(e, T_PROTOCOL_MAJOR, 1);
	ttlv_int(e, T_PROTOCOL_MINOR, 4);
	ttlv_end(e);
	ttlv_int(e, T_BATCH_COUNT, 1);
	ttlv_end(e);
	ttlv_begin(e, T_BATCH_ITEM);
	ttlv_enum(e, T_OPERATION, (uint32_t)op);
	ttlv_begin(e, T_REQUEST_PAYLOAD);
	/* The finished payload items go in as they are. */
	if (!e->err && e->len + pllen > e->cap) {
		uint8_t *nb = secmem_realloc(e->buf, e->len + pllen);

		if (!nb)
			e->err = -ENOMEM;
		else {
			e->buf = nb;
			e->cap = e->len + pllen;
		}
	}
	if (!e->err) {
		memcpy(e->buf + e->len, pl, pllen);
		e->len += pllen;
	}
	ttlv_end(e); /* RequestPayload */
	ttlv_end(e); /* BatchItem */
	ttlv_end(e); /* RequestMessage */
	return 0;
}

/* Operations that change nothing on the server: only these take an idle connection,
 * so that one sent again after the idle connection turned out dead does no harm. */
static int idempotent(int op)
{
	return op == OP_ENCRYPT || op == OP_DECRYPT || op == OP_GET || op == OP_LOCATE ||
	       op == OP_QUERY;
}

/* The request out and the response (*raw, secmem, *len bytes) back on one connection. */
static int roundtrip(struct kms *k, const struct kmip *m, struct kmip_conn *c, const uint8_t *req,
		     size_t reqlen, uint8_t **raw, size_t *len)
{
	uint8_t hdr[8] = { 0 };
	size_t n = 0;
	int r;

	r = kmip_io(k, m, c, (uint8_t *)req, reqlen, 1);
	if (r == 0)
		r = kmip_io(k, m, c, hdr, sizeof(hdr), 0);
	if (r < 0)
		return r;
	n = (size_t)hdr[4] << 24 | (size_t)hdr[5] << 16 | (size_t)hdr[6] << 8 | hdr[7];
	if (hdr[3] != TTLV_STRUCT || n > TTLV_MAX_MSG - 8 || n % 8)
		return kms_fail(k, -EPROTO, "KMIP server %s:%s sent a malformed response header",
				m->host, m->port);
	*raw = secmem_alloc(n + 8);
	if (!*raw)
		return -ENOMEM;
	memcpy(*raw, hdr, 8);
	*len = n + 8;
	return kmip_io(k, m, c, *raw + 8, n, 0);
}

/* One operation's exchange: on the idle connection of an earlier call when the
 * operation is idempotent (sent again on a new connection if that one is dead), else
 * on a new one; a connection that carried a whole exchange is kept for the next. */
static int exchange(struct kms *k, const struct kmip *m, int op, const uint8_t *req, size_t reqlen,
		    uint8_t **raw, size_t *len)
{
	struct kmip_conn c;
	int reuse = idempotent(op), r;

	for (;;) {
		r = kmip_conn_open(k, m, &c, reuse);
		if (r < 0)
			return r;
		r = roundtrip(k, m, &c, req, reqlen, raw, len);
		if (r < 0 && c.reused) {
			secmem_free(*raw);
			*raw = NULL;
			k->error[0] = '\0';
			kmip_conn_close(&c);
			reuse = 0;
			continue;
		}
		kmip_conn_release(&c, r == 0);
		return r;
	}
}

/* The batch item's result: errno and a sentence for a failure, else the payload. */
static int result_of(struct kms *k, const struct kmip *m, int op, const struct ttlv_doc *doc,
		     const struct ttlv **out)
{
	const struct ttlv *item, *rp;
	int64_t status, reason = 0;
	char msg[300] = "";

	if (doc->items[0].tag != T_RESPONSE_MESSAGE ||
	    !(item = ttlv_find(&doc->items[0], T_BATCH_ITEM)))
		return kms_fail(k, -EPROTO, "KMIP server %s:%s answered without a batch item",
				m->host, m->port);
	if (ttlv_get_enum(item, T_RESULT_STATUS, &status) < 0)
		return kms_fail(k, -EPROTO, "KMIP response lacks a result status");
	if (status != 0) {
		(void)ttlv_get_enum(item, T_RESULT_REASON, &reason);
		(void)ttlv_get_text(item, T_RESULT_MESSAGE, msg, sizeof(msg));
		switch (reason) {
		case 1: /* item not found */
			return kms_fail(k, -ENOKEY, "KMIP %s on %s:%s: object not found (%s)",
					kmip_op_name(op), m->host, m->port, msg);
		case 3: /* authentication not successful */
		case 12: /* permission denied */
			return kms_fail(k, -EACCES, "KMIP %s on %s:%s: permission denied (%s)",
					kmip_op_name(op), m->host, m->port, msg);
		case 10: /* cryptographic failure */
			return kms_fail(
				k, -EKEYREJECTED,
				"KMIP %s on %s:%s failed cryptographically (%s): the wrapped "
				"DEK was tampered with or belongs to another volume",
				kmip_op_name(op), m->host, m->port, msg);
		default:
			if (!reason && !msg[0])
				return kms_fail(
					k, -EIO,
					"KMIP %s on %s:%s failed (the server gave no reason "
					"or message; see its log)",
					kmip_op_name(op), m->host, m->port);
			return kms_fail(k, -EIO, "KMIP %s on %s:%s failed (reason %lld: %s)",
					kmip_op_name(op), m->host, m->port, (long long)reason, msg);
		}
	}
	rp = ttlv_find(item, T_RESPONSE_PAYLOAD);
	if (!rp && op != OP_REVOKE && op != OP_DESTROY && op != OP_ACTIVATE)
		return kms_fail(k, -EPROTO, "KMIP %s response lacks a payload", kmip_op_name(op));
	*out = rp;
	return 0;
}

/* One operation: request payload from @payload, response payload into @doc / *out. */
static int call(struct kms *k, const struct kmip *m, int op, struct ttlv_enc *payload,
		struct ttlv_doc *doc, uint8_t **raw, const struct ttlv **out)
{
	struct ttlv_enc e = { 0 };
	const uint8_t *req;
	size_t reqlen, len = 0;
	char why[160];
	int r;

	*raw = NULL;
	r = build_request(op, payload, &e);
	if (r == 0)
		r = ttlv_finish(&e, &req, &reqlen);
	if (r == 0)
		r = exchange(k, m, op, req, reqlen, raw, &len);
	ttlv_enc_free(&e);
	if (r < 0)
		return r;
	r = ttlv_decode(*raw, len, doc, why, sizeof(why));
	if (r < 0)
		return kms_fail(k, -EPROTO, "KMIP server %s:%s sent a malformed response: %s",
				m->host, m->port, why);
	return result_of(k, m, op, doc, out);
}

/* Runs @op, keeping only the response payload tree; frees everything on error. */
void kmip_resp_free(struct kmip_resp *r)
{
	ttlv_doc_free(&r->doc);
	secmem_free(r->raw);
	memset(r, 0, sizeof(*r));
}

int kmip_run(struct kms *k, const struct kmip *m, int op, struct ttlv_enc *pl,
	     struct kmip_resp *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = call(k, m, op, pl, &out->doc, &out->raw, &out->p);
	ttlv_enc_free(pl);
	if (r < 0)
		kmip_resp_free(out);
	return r;
}

void kmip_crypto_params(struct ttlv_enc *e, int gcm)
{
	ttlv_begin(e, T_CRYPTO_PARAMETERS);
	ttlv_enum(e, T_BLOCK_CIPHER_MODE, gcm ? MODE_GCM : MODE_CBC);
	ttlv_enum(e, T_PADDING_METHOD, gcm ? PAD_NONE : PAD_PKCS5);
	ttlv_enum(e, T_CRYPTO_ALGORITHM, ALG_AES);
	if (gcm)
		ttlv_int(e, T_TAG_LENGTH, WRAP_TAG_LEN);
	ttlv_end(e);
}

void kmip_name_attr(struct ttlv_enc *e, const char *name)
{
	ttlv_begin(e, T_ATTRIBUTE);
	ttlv_text(e, T_ATTRIBUTE_NAME, "Name");
	ttlv_begin(e, T_ATTRIBUTE_VALUE);
	ttlv_text(e, T_NAME_VALUE, name);
	ttlv_enum(e, T_NAME_TYPE, NAME_TEXT);
	ttlv_end(e);
	ttlv_end(e);
}

void kmip_int_attr(struct ttlv_enc *e, const char *name, int32_t v, int is_enum)
{
	ttlv_begin(e, T_ATTRIBUTE);
	ttlv_text(e, T_ATTRIBUTE_NAME, name);
	if (is_enum)
		ttlv_enum(e, T_ATTRIBUTE_VALUE, (uint32_t)v);
	else
		ttlv_int(e, T_ATTRIBUTE_VALUE, v);
	ttlv_end(e);
}
