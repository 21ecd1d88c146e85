// SPDX-License-Identifier: MIT
/* Vault KMS entries: parsing, ceph-csi field names, tenant overrides, and the strict
 * JSON helpers for secret-bearing documents. No network: only kms_open is exercised. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kms/kms.h"
#include "util/jsonsec.h"
#include "util/secmem.h"

static char dir[64], conf[128];

static const char entries[] =
	"{\"transit\": {\"encryptionKMSType\": \"vault-transit\", \"vaultAddress\": "
	"\"https://vault.example:8200/\", \"vaultTransitKey\": \"k\", \"vaultTokenFile\": \"/t\"},"
	" \"nokey\": {\"encryptionKMSType\": \"vault-transit\", \"vaultAddress\": "
	"\"https://v:8200\", \"vaultTokenFile\": \"/t\"},"
	" \"plain\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": "
	"\"http://vault.example:8200\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"plain-ok\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": "
	"\"http://10.0.0.1:8200\","
	" \"vaultTokenFile\": \"/t\", \"vaultAllowPlainHTTP\": \"true\"},"
	" \"trick\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": "
	"\"http://127.0.0.1.evil.example\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"trick2\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": "
	"\"http://localhost@vault.example\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"lo4\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": "
	"\"http://127.0.0.9:8200\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"lo6\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"http://[::1]:8200\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"loname\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": "
	"\"http://localhost:8100\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"noaddr\": {\"encryptionKMSType\": \"vault-kv\", \"vaultTokenFile\": \"/t\"},"
	" \"ftp\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"ftp://v\","
	" \"vaultTokenFile\": \"/t\"},"
	" \"badauth\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"https://v\","
	" \"vaultAuthMethod\": \"ldap\"},"
	" \"noauth\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"https://v\"},"
	" \"certless\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"https://v\","
	" \"vaultAuthMethod\": \"cert\"},"
	" \"kv3\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"https://v\","
	" \"vaultBackend\": \"kv3\", \"vaultTokenFile\": \"/t\"},"
	" \"timeout\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"https://v\","
	" \"vaultTimeout\": \"soon\", \"vaultTokenFile\": \"/t\"},"
	" \"traversal\": {\"encryptionKMSType\": \"vaulttokens\", \"vaultAddress\": \"https://v\","
	" \"tenantTokenName\": \"../etc\"},"
	" \"halfcert\": {\"encryptionKMSType\": \"vault-kv\", \"vaultAddress\": \"https://v\","
	" \"vaultClientCertFile\": \"/c\", \"vaultTokenFile\": \"/t\"},"
	/* As in a ceph-csi csi-kms-connection-details ConfigMap (seed 000). */
	" \"csi\": {\"encryptionKMSType\": \"vaulttokens\", \"vaultAddress\": "
	"\"https://vault.default.svc.cluster.local:8200\", \"vaultBackendPath\": \"secret/\","
	" \"vaultTLSServerName\": \"vault.default.svc.cluster.local\", \"vaultCAVerify\": \"true\","
	" \"vaultCAFromSecret\": \"vault-ca\", \"vaultClientCertFromSecret\": "
	"\"vault-client-cert\","
	" \"vaultClientCertKeyFromSecret\": \"vault-client-cert\", \"tenantConfigName\": "
	"\"ceph-csi-kms-config\", \"tenantTokenName\": \"ceph-csi-kms-token\","
	" \"vaultDestroyKeys\": \"true\", \"vaultNamespace\": \"csi\"},"
	" \"sa\": {\"encryptionKMSType\": \"vaulttenantsa\", \"vaultAddress\": \"https://v\","
	" \"vaultAuthPath\": \"/v1/auth/kubernetes/login\", \"tenantSAName\": "
	"\"ceph-csi-vault-sa\"},"
	" \"tenanted\": {\"encryptionKMSType\": \"vault-transit\", \"vaultAddress\": \"https://a\","
	" \"vaultTransitKey\": \"k\", \"vaultTokenFile\": \"/t\", \"tenants\": {"
	"   \"rbd\": {\"vaultAddress\": \"https://b\"},"
	"   \"rbd/ns1\": {\"vaultAddress\": \"https://c\"}}},"
	" \"badtenants\": {\"encryptionKMSType\": \"vault-transit\", \"vaultAddress\": "
	"\"https://a\","
	" \"vaultTransitKey\": \"k\", \"vaultTokenFile\": \"/t\", \"tenants\": [1]}}";

static int setup(void **state)
{
	FILE *f;

	(void)state;
	strcpy(dir, "/tmp/pvenc-vault-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	(void)snprintf(conf, sizeof(conf), "%s/kms.json", dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	assert_int_equal(fputs(entries, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	unsetenv("VAULT_ADDR");
	unsetenv("BAO_ADDR");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	(void)unlink(conf);
	(void)rmdir(dir);
	kms_cleanup();
	return 0;
}

static int open_err(const char *id, const char *want)
{
	struct kms *k = NULL;
	char err[512] = "";
	int r = kms_open(conf, id, NULL, NULL, &k, err, sizeof(err));

	if (want && !strstr(err, want)) {
		print_error("%s: error '%s' lacks '%s'\n", id, err, want);
		fail();
	}
	kms_free(k);
	return r;
}

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(open_err("nokey", "vaultTransitKey"), -EINVAL);
	assert_int_equal(open_err("noaddr", "vaultAddress is required"), -EINVAL);
	assert_int_equal(open_err("ftp", "must start with https://"), -EINVAL);
	assert_int_equal(open_err("badauth", "'ldap' is unknown"), -EINVAL);
	assert_int_equal(open_err("noauth", "no Vault auth configured"), -EINVAL);
	assert_int_equal(open_err("certless", "client certificate and key"), -EINVAL);
	assert_int_equal(open_err("kv3", "neither kv nor kv-v2"), -EINVAL);
	assert_int_equal(open_err("timeout", "seconds"), -EINVAL);
	assert_int_equal(open_err("traversal", "malformed"), -EINVAL);
	assert_int_equal(open_err("halfcert", "needs its key"), -EINVAL);
	assert_int_equal(open_err("badtenants", "\"tenants\" must map"), -EINVAL);
	/* Plain http only to this host, unless the entry accepts it in so many words. */
	assert_int_equal(open_err("plain", "plain http to another host"), -EINVAL);
	assert_int_equal(open_err("trick", "plain http to another host"), -EINVAL);
	assert_int_equal(open_err("trick2", "plain http to another host"), -EINVAL);
}

static void test_plain_http(void **state)
{
	static const char *const ok[] = { "plain-ok", "lo4", "lo6", "loname" };
	struct kms *k = NULL;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (kms_open(conf, ok[i], NULL, NULL, &k, err, sizeof(err)) != 0)
			fail_msg("%s: %s", ok[i], err);
		kms_free(k);
		k = NULL;
	}
}

static void test_endpoint_and_env(void **state)
{
	struct kms *k = NULL;
	char err[512];

	(void)state;
	assert_int_equal(kms_open(conf, "transit", NULL, NULL, &k, err, sizeof(err)), 0);
	/* Trailing slashes do not make another endpoint. */
	assert_string_equal(k->endpoint, "https://vault.example:8200");
	assert_true(kms_is_envelope(k));
	kms_free(k);
	k = NULL;
	/* The shell's VAULT_ and BAO_ variables are the operator's vault CLI's, not the
	 * node's: an exported VAULT_ADDR would send the node's token elsewhere. Only
	 * kms.json counts (where VAULT_ADDR is an alias key, as in ceph-csi's ConfigMap). */
	setenv("VAULT_ADDR", "https://from-env:8200", 1);
	setenv("BAO_ADDR", "https://bao:8200", 1);
	assert_int_equal(kms_open(conf, "noaddr", NULL, NULL, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vaultAddress is required"));
	unsetenv("VAULT_ADDR");
	unsetenv("BAO_ADDR");
}

static void test_ceph_csi_entries(void **state)
{
	struct kms *k = NULL;
	char err[512];

	(void)state;
	assert_int_equal(kms_open(conf, "csi", NULL, NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(kms_type(k), "vault-kv");
	assert_string_equal(k->endpoint, "https://vault.default.svc.cluster.local:8200");
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(conf, "sa", NULL, NULL, &k, err, sizeof(err)), 0);
	kms_free(k);
}

static void test_tenants(void **state)
{
	struct kms *k = NULL;
	char err[512];

	(void)state;
	assert_int_equal(kms_open(conf, "tenanted", "other", NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k->endpoint, "https://a");
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(conf, "tenanted", "rbd", "", &k, err, sizeof(err)), 0);
	assert_string_equal(k->endpoint, "https://b");
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(conf, "tenanted", "rbd", "ns2", &k, err, sizeof(err)), 0);
	assert_string_equal(k->endpoint, "https://b");
	kms_free(k);
	k = NULL;
	assert_int_equal(kms_open(conf, "tenanted", "rbd", "ns1", &k, err, sizeof(err)), 0);
	assert_string_equal(k->endpoint, "https://c");
	kms_free(k);
}

static void test_jsonsec(void **state)
{
	struct json_object *o;
	char deep[100];
	size_t len;
	char *s;

	(void)state;
	o = json_parse_secret("{\"a\": {\"b\": \"secret\"}}", 22);
	assert_non_null(o);
	assert_string_equal(jget_str(jget_obj(o, "a"), "b"), "secret");
	assert_null(jget_str(o, "a"));
	assert_int_equal(jget_int(o, "a"), -1);
	assert_int_equal(jget_bool(o, "a"), -1);
	s = json_to_secret(o, &len);
	assert_non_null(s);
	assert_string_equal(s, "{\"a\":{\"b\":\"secret\"}}");
	assert_int_equal(len, strlen(s));
	secmem_free(s);
	json_put_wipe(o);
	/* Trailing data, truncation, bare garbage and excessive nesting are refused. */
	assert_null(json_parse_secret("{} x", 4));
	assert_null(json_parse_secret("{\"a\": ", 6));
	assert_null(json_parse_secret("vault", 5));
	memset(deep, '[', sizeof(deep));
	assert_null(json_parse_secret(deep, 40));
	json_put_wipe(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),		 cmocka_unit_test(test_plain_http),
		cmocka_unit_test(test_endpoint_and_env), cmocka_unit_test(test_ceph_csi_entries),
		cmocka_unit_test(test_tenants),		 cmocka_unit_test(test_jsonsec),
	};

	return cmocka_run_group_tests_name("vault-config", tests, setup, teardown);
}
