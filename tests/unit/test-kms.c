// SPDX-License-Identifier: MIT
/* KMS backends: keyfile and passphrase-metadata, through the kms.h interface. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kms/keyrec.h"
#include "kms/kms.h"
#include "kms/provider.h"
#include "util/secmem.h"

struct fixture {
	char dir[64];
	char conf[128];
	char kek[128];
	char kek2[128];
	char pass[128];
};

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char json[1024];
	uint8_t kek[32];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/pvenc-kms-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->conf, sizeof(f->conf), "%s/kms.json", f->dir);
	(void)snprintf(f->kek, sizeof(f->kek), "%s/a.kek", f->dir);
	(void)snprintf(f->kek2, sizeof(f->kek2), "%s/b.kek", f->dir);
	(void)snprintf(f->pass, sizeof(f->pass), "%s/pass", f->dir);
	for (int i = 0; i < 32; i++)
		kek[i] = (uint8_t)i;
	write_file(f->kek, kek, 32, 0600);
	/* The same KEK in hex, as an operator might write it. */
	write_file(f->kek2, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		   65, 0400);
	write_file(f->pass, "ceph-csi-test-secret\n", 21, 0600);
	(void)snprintf(
		json, sizeof(json),
		"{\"a\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"%s\"},"
		" \"hex\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"%s\"},"
		" \"pp\": {\"encryptionKMSType\": \"passphrase-metadata\", \"secretFile\": \"%s\"},"
		" \"csi\": {\"encryptionKMSType\": \"metadata\", \"secretFile\": \"%s\"},"
		" \"relative\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"x.kek\"},"
		" \"vault\": {\"encryptionKMSType\": \"no-such-type\"},"
		" \"notype\": {\"keyFile\": \"%s\"}}",
		f->kek, f->kek2, f->pass, f->pass, f->kek);
	write_file(f->conf, json, strlen(json), 0644);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void roundtrip(struct kms *k, const char *volid)
{
	struct kms_binding b = { .volume_id = volid };
	uint8_t dek[32];
	uint8_t *out = NULL;
	char *wrapped = NULL;
	size_t len = 0;

	for (int i = 0; i < 32; i++)
		dek[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(kms_wrap(k, &b, dek, sizeof(dek), &wrapped), 0);
	assert_non_null(strstr(wrapped, "{"));
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(out, dek, 32);
	secmem_free(out);
	free(wrapped);
}

static void test_keyfile_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char err[256];

	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &k, err, sizeof(err)), 0);
	assert_true(kms_is_envelope(k));
	assert_non_null(strstr(k->endpoint, "a.kek"));
	roundtrip(k, "d9dfbaf3-eac8-4094-9b0e-64cafa5d92c8");
	kms_free(k);
}

static void test_keyfile_hex_is_same_kek(void **state)
{
	struct fixture *f = *state;
	struct kms *a = NULL, *h = NULL;
	struct kms_binding b = { .volume_id = "vol-1" };
	uint8_t dek[32] = { 1, 2, 3 }, *out = NULL;
	char *wrapped = NULL, err[256];
	size_t len;

	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &a, err, sizeof(err)), 0);
	assert_int_equal(kms_open(f->conf, "hex", NULL, NULL, &h, err, sizeof(err)), 0);
	assert_int_equal(kms_wrap(a, &b, dek, 32, &wrapped), 0);
	assert_int_equal(kms_unwrap(h, &b, wrapped, &out, &len), 0);
	assert_memory_equal(out, dek, 32);
	secmem_free(out);
	free(wrapped);
	kms_free(a);
	kms_free(h);
}

static void test_keyfile_binding(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	struct kms_binding b1 = { .volume_id = "vol-1" }, b2 = { .volume_id = "vol-2" };
	uint8_t dek[32] = { 0 }, *out = NULL;
	char *wrapped = NULL, err[256];
	size_t len;

	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &k, err, sizeof(err)), 0);
	assert_int_equal(kms_wrap(k, &b1, dek, 32, &wrapped), 0);
	/* A wrapped DEK copied onto another volume does not unwrap there. */
	assert_int_equal(kms_unwrap(k, &b2, wrapped, &out, &len), -EKEYREJECTED);
	assert_non_null(strstr(k->error, "another volume"));
	assert_null(out);
	free(wrapped);
	kms_free(k);
}

static void test_keyfile_wrong_kek_named(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	struct kms_binding b = { .volume_id = "vol-1" };
	uint8_t *out = NULL;
	char err[256];
	size_t len;
	const char *other = "{\"v\":1,\"alg\":\"A256GCM\",\"kid\":\"0123456789abcdef\","
			    "\"iv\":\"AAAAAAAAAAAAAAAA\",\"ct\":"
			    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";

	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &k, err, sizeof(err)), 0);
	assert_int_equal(kms_unwrap(k, &b, other, &out, &len), -EKEYREJECTED);
	assert_non_null(strstr(k->error, "wrong KEK"));
	assert_non_null(strstr(k->error, "0123456789abcdef"));
	kms_free(k);
}

static void test_keyfile_malformed_wrapped(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"v\":2,\"alg\":\"A256GCM\",\"kid\":\"x\",\"iv\":\"AAAA\",\"ct\":\"AAAA\"}",
		"{\"v\":1,\"alg\":\"A128GCM\",\"kid\":\"x\",\"iv\":\"AAAA\",\"ct\":\"AAAA\"}",
		"{\"v\":1,\"alg\":\"A256GCM\",\"iv\":\"AAAA\",\"ct\":\"AAAA\"}",
		"{\"v\":\"1\",\"alg\":\"A256GCM\",\"kid\":\"x\",\"iv\":\"AAAA\",\"ct\":\"AAAA\"}",
	};
	struct fixture *f = *state;
	struct kms *k = NULL;
	struct kms_binding b = { .volume_id = "vol-1" };
	uint8_t *out = NULL;
	char err[256];
	size_t len;

	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &k, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = kms_unwrap(k, &b, bad[i], &out, &len);

		if (r != -EBADMSG)
			fail_msg("'%s' gave %d, want -EBADMSG", bad[i], r);
		assert_null(out);
	}
	kms_free(k);
}

static void test_keyfile_permissions(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char err[512];

	assert_int_equal(chmod(f->kek, 0644), 0);
	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 0600"));
	assert_int_equal(chmod(f->kek, 0600), 0);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char err[512];

	assert_int_equal(kms_open(f->conf, "nope", NULL, NULL, &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "'nope' is not in"));
	assert_int_equal(kms_open(f->conf, "vault", NULL, NULL, &k, err, sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "no-such-type"));
	assert_int_equal(kms_open(f->conf, "notype", NULL, NULL, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "encryptionKMSType"));
	assert_int_equal(kms_open(f->conf, "relative", NULL, NULL, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "absolute path"));
	assert_int_equal(kms_open("/nonexistent/kms.json", "a", NULL, NULL, &k, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "cannot read KMS config"));
	assert_null(k);
}

static void test_passphrase_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char err[256];

	assert_int_equal(kms_open(f->conf, "pp", NULL, NULL, &k, err, sizeof(err)), 0);
	roundtrip(k, "0001-0009-rook-ceph-0000000000000002-1b2c3d4e-0000-4000-8000-0123456789ab");
	kms_free(k);
}

/* A wrapped DEK made independently (python3-cryptography: scrypt N=32768 r=8 p=1,
 * salt = volume handle, AES-256-GCM, std base64), as ceph-csi's metadata KMS stores
 * rbd.csi.ceph.com/dek. The DEK is a ceph-csi passphrase: 20 bytes, base64url. */
static void test_passphrase_ceph_csi_vector(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	struct kms_binding b = {
		.volume_id =
			"0001-0009-rook-ceph-0000000000000002-1b2c3d4e-0000-4000-8000-0123456789ab"
	};
	const char *wrapped =
		"{\"dek\": \"9b9HRAEdLgVRg8PXyBpYHV4BfQ0cfjwSgU+TXjEJaKl6fnWqTlfDcRre7NQ=\", "
		"\"nonce\": \"AAECAwQFBgcICQoL\"}";
	uint8_t *out = NULL;
	char err[256];
	size_t len;

	assert_int_equal(kms_open(f->conf, "csi", NULL, NULL, &k, err, sizeof(err)), 0);
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), 0);
	assert_int_equal(len, 28);
	assert_memory_equal(out, "AAECAwQFBgcICQoLDA0ODxAREhM=", 28);
	secmem_free(out);
	out = NULL;
	/* Another volume handle derives another KEK. */
	b.volume_id = "0001-0009-rook-ceph-0000000000000002-ffffffff-0000-4000-8000-0123456789ab";
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), -EKEYREJECTED);
	assert_null(out);
	kms_free(k);
}

/* The config is parsed once and read again when the file changes: an entry added by an
 * operator is found at the next open, one removed is gone. */
static void test_config_reread_on_change(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char conf[160], json[512], err[256];

	(void)snprintf(conf, sizeof(conf), "%s/reread.json", f->dir);
	(void)snprintf(json, sizeof(json),
		       "{\"x\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"%s\"}}",
		       f->kek);
	write_file(conf, json, strlen(json), 0600);
	assert_int_equal(kms_open(conf, "x", NULL, NULL, &k, err, sizeof(err)), 0);
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(conf, "y", NULL, NULL, &k, err, sizeof(err)), -ENOENT);
	/* The same length, another name: only the change tells the two files apart. */
	json[2] = 'y';
	write_file(conf, json, strlen(json), 0600);
	assert_int_equal(kms_open(conf, "y", NULL, NULL, &k, err, sizeof(err)), 0);
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(conf, "x", NULL, NULL, &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "is not in"));
	/* Gone: said so, not served from the parsed copy. */
	assert_int_equal(unlink(conf), 0);
	assert_int_equal(kms_open(conf, "y", NULL, NULL, &k, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot read KMS config"));
	kms_config_forget();
}

/* Binding v2: the scope is authenticated with the DEK, for keyfile (wrapfmt) and the
 * passphrase KMS; a DEK wrapped for one scope does not unwrap in another, nor as v1. */
static void binding_scope(struct kms *k)
{
	const char *uuid = "1b2c3d4e-0000-4000-8000-0123456789ab";
	struct kms_binding b = { .volume_id = uuid, .scope = "rbd" };
	uint8_t dek[32], *out = NULL;
	char *wrapped = NULL;
	size_t len;

	memset(dek, 0x5a, sizeof(dek));
	assert_int_equal(kms_wrap(k, &b, dek, sizeof(dek), &wrapped), 0);
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), 0);
	assert_int_equal(len, sizeof(dek));
	secmem_free(out);
	out = NULL;
	b.scope = "other";
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), -EKEYREJECTED);
	b.scope = "rbd/ns1";
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), -EKEYREJECTED);
	b.scope = NULL;
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), -EKEYREJECTED);
	assert_null(out);
	free(wrapped);
	/* ... and a v1 wrap does not unwrap as v2. */
	assert_int_equal(kms_wrap(k, &b, dek, sizeof(dek), &wrapped), 0);
	b.scope = "rbd";
	assert_int_equal(kms_unwrap(k, &b, wrapped, &out, &len), -EKEYREJECTED);
	free(wrapped);
}

static void test_binding_scope(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char err[256];

	assert_int_equal(kms_open(f->conf, "a", NULL, NULL, &k, err, sizeof(err)), 0);
	binding_scope(k);
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(f->conf, "pp", NULL, NULL, &k, err, sizeof(err)), 0);
	binding_scope(k);
	kms_free(k);
}

static void test_binding_aad(void **state)
{
	struct kms_binding b = { .volume_id = "u" };
	char buf[32];

	(void)state;
	assert_int_equal(kms_binding_aad(&b, buf, sizeof(buf)), 14);
	assert_string_equal(buf, "pvenc:dek:v1:u");
	b.scope = "rbd/ns";
	assert_int_equal(kms_binding_aad(&b, buf, sizeof(buf)), 21);
	assert_string_equal(buf, "pvenc:dek:v2:rbd/ns:u");
	assert_int_equal(kms_binding_aad(&b, buf, 21), -ENAMETOOLONG);
	b.volume_id = "";
	assert_int_equal(kms_binding_aad(&b, buf, sizeof(buf)), -EINVAL);
}

/* The owner record a KMS that keeps keys holds: built, parsed, and hostile forms. */
static void test_keyrec(void **state)
{
	uint8_t dek[32], *rec = NULL, bad[64];
	struct keyrec r;
	size_t len;

	(void)state;
	memset(dek, 7, sizeof(dek));
	assert_int_equal(keyrec_build("rbd/ns", "10ab", dek, sizeof(dek), &rec, &len), 0);
	assert_int_equal(len, 8 + 1 + 6 + 1 + 4 + 32);
	assert_int_equal(keyrec_parse(rec, len, &r), 1);
	assert_true(keyrec_scope_is(&r, "rbd/ns"));
	assert_false(keyrec_scope_is(&r, "rbd"));
	assert_false(keyrec_scope_is(&r, "rbd/ns1"));
	assert_true(keyrec_image_is(&r, "10ab"));
	assert_false(keyrec_image_is(&r, "10a"));
	assert_int_equal(r.dek_len, 32);
	assert_memory_equal(r.dek, dek, 32);
	/* Every truncation is malformed, never read past the end. */
	for (size_t n = 8; n < 8 + 1 + 6 + 1 + 4 + 1; n++)
		assert_int_equal(keyrec_parse(rec, n, &r), -EBADMSG);
	secmem_free(rec);
	/* A bare DEK (an earlier pvenc's) is no record. */
	assert_int_equal(keyrec_parse(dek, sizeof(dek), &r), 0);
	/* Empty names, a NUL inside a name, lengths past the end. */
	static const uint8_t empty[] = "pvenc-k1\0\1x", nul[] = "pvenc-k1\2a\0\1x",
			     past[] = "pvenc-k1\377a";
	memset(bad, 0, sizeof(bad));
	memcpy(bad, empty, sizeof(empty));
	assert_int_equal(keyrec_parse(bad, 40, &r), -EBADMSG);
	memcpy(bad, nul, sizeof(nul));
	assert_int_equal(keyrec_parse(bad, 40, &r), -EBADMSG);
	memcpy(bad, past, sizeof(past));
	assert_int_equal(keyrec_parse(bad, 40, &r), -EBADMSG);
	assert_int_equal(keyrec_build("", "x", dek, 32, &rec, &len), -EINVAL);
	assert_int_equal(keyrec_build("rbd", NULL, dek, 32, &rec, &len), -EINVAL);
	assert_int_equal(keyrec_build("rbd", "x", dek, 0, &rec, &len), -EINVAL);
}

/* An entry's "pools" list: POOL covers its namespaces, POOL/NS only that one. */
static void test_pools_allow_list(void **state)
{
	struct fixture *f = *state;
	struct kms *k = NULL;
	char conf[160], json[1024], err[256];

	(void)snprintf(conf, sizeof(conf), "%s/pools.json", f->dir);
	(void)snprintf(json, sizeof(json),
		       "{\"x\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"%s\","
		       " \"pools\": [\"rbd\", \"other/t\"]},"
		       " \"s\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"%s\","
		       " \"pools\": \"a, b/c\"},"
		       " \"bad\": {\"encryptionKMSType\": \"keyfile\", \"keyFile\": \"%s\","
		       " \"pools\": 3}}",
		       f->kek, f->kek, f->kek);
	write_file(conf, json, strlen(json), 0600);
	struct {
		const char *id, *pool, *ns;
		int r;
	} cases[] = {
		{ "x", "rbd", "", 0 },		{ "x", "rbd", "ns1", 0 },
		{ "x", "other", "t", 0 },	{ "x", "other", "", -EACCES },
		{ "x", "other", "u", -EACCES }, { "x", "rb", "", -EACCES },
		{ "x", NULL, NULL, 0 },		{ "s", "a", "", 0 },
		{ "s", "b", "c", 0 },		{ "s", "b", "", -EACCES },
		{ "bad", "rbd", "", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = kms_open(conf, cases[i].id, cases[i].pool, cases[i].ns, &k, err,
				 sizeof(err));

		if (r != cases[i].r)
			fail_msg("case %zu: %d, want %d (%s)", i, r, cases[i].r, err);
		kms_free(k);
		k = NULL;
	}
	kms_config_forget();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_reread_on_change),
		cmocka_unit_test(test_keyfile_roundtrip),
		cmocka_unit_test(test_keyfile_hex_is_same_kek),
		cmocka_unit_test(test_keyfile_binding),
		cmocka_unit_test(test_keyfile_wrong_kek_named),
		cmocka_unit_test(test_keyfile_malformed_wrapped),
		cmocka_unit_test(test_keyfile_permissions),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_passphrase_roundtrip),
		cmocka_unit_test(test_passphrase_ceph_csi_vector),
		cmocka_unit_test(test_binding_scope),
		cmocka_unit_test(test_binding_aad),
		cmocka_unit_test(test_keyrec),
		cmocka_unit_test(test_pools_allow_list),
	};

	return cmocka_run_group_tests_name("kms", tests, setup, teardown);
}
