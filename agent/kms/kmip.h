/* SPDX-License-Identifier: MIT */
/*
 * The KMIP client's layers, below the operations in kmip.c: the protocol's tags and
 * values, the TLS transport (kmip_tls.c) and the request/response messages
 * (kmip_msg.c).
 */
#ifndef PVENC_KMS_KMIP_H
#define PVENC_KMS_KMIP_H

#include <json-c/json.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "kms/provider.h"
#include "kms/ttlv.h"

/* Tags (KMIP 1.4). */
enum {
	T_ATTRIBUTE = 0x420008,
	T_ATTRIBUTE_NAME = 0x42000A,
	T_ATTRIBUTE_VALUE = 0x42000B,
	T_BATCH_COUNT = 0x42000D,
	T_BATCH_ITEM = 0x42000F,
	T_BLOCK_CIPHER_MODE = 0x420011,
	T_CRYPTO_ALGORITHM = 0x420028,
	T_CRYPTO_LENGTH = 0x42002A,
	T_CRYPTO_PARAMETERS = 0x42002B,
	T_CRYPTO_USAGE_MASK = 0x42002C,
	T_IV_COUNTER_NONCE = 0x42003D,
	T_KEY_BLOCK = 0x420040,
	T_KEY_FORMAT_TYPE = 0x420042,
	T_KEY_MATERIAL = 0x420043,
	T_KEY_VALUE = 0x420045,
	T_NAME = 0x420053,
	T_NAME_TYPE = 0x420054,
	T_NAME_VALUE = 0x420055,
	T_OBJECT_TYPE = 0x420057,
	T_OPERATION = 0x42005C,
	T_PADDING_METHOD = 0x42005F,
	T_PROTOCOL_VERSION = 0x420069,
	T_PROTOCOL_MAJOR = 0x42006A,
	T_PROTOCOL_MINOR = 0x42006B,
	T_QUERY_FUNCTION = 0x420074,
	T_REQUEST_HEADER = 0x420077,
	T_REQUEST_MESSAGE = 0x420078,
	T_REQUEST_PAYLOAD = 0x420079,
	T_RESPONSE_MESSAGE = 0x42007B,
	T_RESPONSE_PAYLOAD = 0x42007C,
	T_RESULT_MESSAGE = 0x42007D,
	T_RESULT_REASON = 0x42007E,
	T_RESULT_STATUS = 0x42007F,
	T_REVOCATION_REASON = 0x420081,
	T_REVOCATION_REASON_CODE = 0x420082,
	T_SYMMETRIC_KEY = 0x42008F,
	T_TEMPLATE_ATTRIBUTE = 0x420091,
	T_UNIQUE_IDENTIFIER = 0x420094,
	T_VENDOR_IDENTIFICATION = 0x42009D,
	T_DATA = 0x4200C2,
	T_TAG_LENGTH = 0x4200CE,
	T_AEAD_DATA = 0x4200FE,
	T_AEAD_TAG = 0x4200FF,
};

enum {
	OP_CREATE = 0x01,
	OP_REGISTER = 0x03,
	OP_LOCATE = 0x08,
	OP_GET = 0x0A,
	OP_ACTIVATE = 0x12,
	OP_REVOKE = 0x13,
	OP_DESTROY = 0x14,
	OP_QUERY = 0x18,
	OP_ENCRYPT = 0x1F,
	OP_DECRYPT = 0x20,
};

#define ALG_AES		 3
#define MODE_CBC	 1
#define MODE_GCM	 9
#define PAD_NONE	 1
#define PAD_PKCS5	 3
#define OBJ_SYMMETRIC	 2
#define FMT_RAW		 1
#define USAGE_ENC_DEC	 (0x4 | 0x8)
#define NAME_TEXT	 1
#define REASON_CESSATION 6
#define UID_MAX		 128

/* A configured entry. */
struct kmip {
	char *host, *port, *server_name;
	char *ca, *cert, *key;
	char uid[UID_MAX + 1]; /* wrap mode: the KEK */
	struct json_object *cfg; /* kmipPreviousKeyUIDs: retired KEKs that still unwrap */
	int register_mode;
	int read_ms, write_ms;
};

/* ---- transport (kmip_tls.c) ---- */

/* One TLS connection to the server. The SSL_CTX (CA, client certificate and key) is
 * made once per set of files and reused while they stay the same, with the last TLS
 * session, so a connection after the first resumes instead of a full handshake. */
struct kmip_conn {
	struct kmip_tls *tls;
	SSL *ssl;
	int fd;
	int reused; /* the idle connection of an earlier call */
};

/* @reuse: may take the idle connection an earlier call left (kmip_conn_release). */
int kmip_conn_open(struct kms *k, const struct kmip *m, struct kmip_conn *c, int reuse);
/* Keeps a @healthy connection (a whole answer read, nothing pending) as the context's
 * idle one if it has none; closes it otherwise. */
void kmip_conn_release(struct kmip_conn *c, int healthy);
void kmip_conn_close(struct kmip_conn *c);
/* Reads (@wr 0) or writes exactly @len bytes; timeouts and resets become sentences. */
int kmip_io(struct kms *k, const struct kmip *m, struct kmip_conn *c, uint8_t *buf, size_t len,
	    int wr);
/* Drops the cached TLS contexts (kms_cleanup). */
void kmip_tls_cleanup(void);

/* ---- messages (kmip_msg.c) ---- */

const char *kmip_op_name(int op);

/* An operation's response payload, kept with what backs it. */
struct kmip_resp {
	struct ttlv_doc doc;
	uint8_t *raw;
	const struct ttlv *p;
};
void kmip_resp_free(struct kmip_resp *r);
/* Runs @op with request payload @pl (consumed) over one connection; result errors
 * become sentences in k->error. */
int kmip_run(struct kms *k, const struct kmip *m, int op, struct ttlv_enc *pl,
	     struct kmip_resp *out);
void kmip_crypto_params(struct ttlv_enc *e, int gcm);
void kmip_name_attr(struct ttlv_enc *e, const char *name);
void kmip_int_attr(struct ttlv_enc *e, const char *name, int32_t v, int is_enum);

#endif
