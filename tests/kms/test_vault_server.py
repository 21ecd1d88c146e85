#!/usr/bin/python3
"""The Vault test server's own tests: each checks a documented Vault/OpenBao behaviour
that pvenc relies on (../shared/research/vault-api.md), against a live server process."""
import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tap_unittest  # noqa: E402

SERVER = os.path.join(HERE, "vault-server")
CONFIG = os.path.join(HERE, "vault-config.example.json")


def start_server(tmp, *extra):
    ready = os.path.join(tmp, "ready-%d" % len(os.listdir(tmp)))
    log = open(os.path.join(tmp, "log"), "a")
    proc = subprocess.Popen([SERVER, "--config", CONFIG, "--ready-file", ready, *extra],
                            stderr=log)
    for _ in range(200):
        if os.path.exists(ready):
            with open(ready) as f:
                return proc, f.read().strip()
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("vault-server did not start")


class Client:
    def __init__(self, addr, token=None, namespace=None, ctx=None):
        scheme, rest = addr.split("://")
        host, port = rest.rsplit(":", 1)
        self.mk = (lambda: http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)) \
            if scheme == "https" else (lambda: http.client.HTTPConnection(host, int(port), timeout=10))
        self.token = token
        self.namespace = namespace

    def req(self, method, path, body=None, token=None, headers=None):
        conn = self.mk()
        h = dict(headers or {})
        tok = token if token is not None else self.token
        if tok:
            h["X-Vault-Token"] = tok
        if self.namespace:
            h["X-Vault-Namespace"] = self.namespace
        data = json.dumps(body).encode() if body is not None else None
        if data:
            h["Content-Type"] = "application/json"
        conn.request(method, "/v1/" + path if not path.startswith("/") else path, data, h)
        r = conn.getresponse()
        raw = r.read()
        hdrs = dict(r.getheaders())
        conn.close()
        return r.status, (json.loads(raw) if raw else None), hdrs


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


class VaultServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pvenc-vault-test.")
        cls.proc, cls.addr = start_server(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def c(self, token="root-token", namespace=None):
        return Client(self.addr, token, namespace)

    # ---- sys/health and sealing

    def test_health_active_200(self):
        st, body, _ = self.c(None).req("GET", "sys/health")
        self.assertEqual(st, 200)
        self.assertIs(body["sealed"], False)
        self.assertIs(body["initialized"], True)
        self.assertIn("version", body)

    def test_sealed_503_then_unseal(self):
        c = self.c()
        self.assertEqual(c.req("PUT", "sys/seal")[0], 204)
        try:
            st, body, _ = c.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})
            self.assertEqual(st, 503)
            self.assertEqual(body, {"errors": ["Vault is sealed"]})
            st, body, _ = c.req("GET", "sys/health")
            self.assertEqual(st, 503)
            self.assertIs(body["sealed"], True)
            self.assertEqual(c.req("GET", "sys/health?sealedcode=299")[0], 299)
        finally:
            st, body, _ = c.req("PUT", "sys/unseal", {"key": "test-unseal-key"})
        self.assertIs(body["sealed"], False)

    # ---- transit

    def test_encrypt_ciphertext_format(self):
        st, body, _ = self.c("transit-token").req("POST", "transit/encrypt/pvenc-kek",
                                                  {"plaintext": b64(os.urandom(32))})
        self.assertEqual(st, 200)
        ct = body["data"]["ciphertext"]
        self.assertTrue(ct.startswith("vault:v"), ct)
        ver = int(ct.split(":")[1][1:])
        self.assertEqual(body["data"]["key_version"], ver)
        raw = base64.b64decode(ct.split(":", 2)[2], validate=True)
        self.assertEqual(len(raw), 12 + 32 + 16)  # nonce | ciphertext | tag

    def test_encrypt_decrypt_round_trip(self):
        c = self.c("transit-token")
        dek = os.urandom(32)
        ct = c.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64(dek)})[1]["data"]["ciphertext"]
        st, body, _ = c.req("POST", "transit/decrypt/pvenc-kek", {"ciphertext": ct})
        self.assertEqual(st, 200)
        self.assertEqual(base64.b64decode(body["data"]["plaintext"]), dek)

    def test_key_hex_survives_a_restart(self):
        # A Transit key with fixed material: what one server encrypted, a fresh server
        # with the same config decrypts (Vault's storage outlives a restart).
        cfg = json.load(open(CONFIG))
        cfg["transit_keys"] = [{"name": "pvenc-kek", "key_hex": "11" * 32}]
        path = os.path.join(self.tmp, "fixed.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        dek = os.urandom(32)
        cts = []
        for _ in range(2):
            tmp = tempfile.mkdtemp(dir=self.tmp)
            ready = os.path.join(tmp, "ready")
            proc = subprocess.Popen([SERVER, "--config", path, "--ready-file", ready],
                                    stderr=subprocess.DEVNULL)
            try:
                for _ in range(200):
                    if os.path.exists(ready) and open(ready).read().strip():
                        break
                    time.sleep(0.05)
                c = Client(open(ready).read().strip(), "transit-token")
                if cts:
                    st, body, _ = c.req("POST", "transit/decrypt/pvenc-kek", {"ciphertext": cts[0]})
                    self.assertEqual(st, 200)
                    self.assertEqual(base64.b64decode(body["data"]["plaintext"]), dek)
                cts.append(c.req("POST", "transit/encrypt/pvenc-kek",
                                 {"plaintext": b64(dek)})[1]["data"]["ciphertext"])
            finally:
                proc.kill()
                proc.wait()

    def test_rotate_versions_rewrap_and_min_decryption(self):
        root = self.c()
        self.assertIn(root.req("POST", "transit/keys/rot")[0], (200, 204))
        ct1 = root.req("POST", "transit/encrypt/rot", {"plaintext": b64("dek")})[1]["data"]["ciphertext"]
        self.assertTrue(ct1.startswith("vault:v1:"))
        st, body, _ = root.req("POST", "transit/keys/rot/rotate")
        self.assertEqual(st, 200)
        self.assertEqual(body["data"]["latest_version"], 2)
        ct2 = root.req("POST", "transit/encrypt/rot", {"plaintext": b64("dek")})[1]["data"]["ciphertext"]
        self.assertTrue(ct2.startswith("vault:v2:"))
        self.assertEqual(root.req("POST", "transit/decrypt/rot", {"ciphertext": ct1})[0], 200)
        st, body, _ = root.req("POST", "transit/rewrap/rot", {"ciphertext": ct1})
        self.assertEqual(st, 200)
        self.assertTrue(body["data"]["ciphertext"].startswith("vault:v2:"))
        self.assertEqual(body["data"]["key_version"], 2)
        rewrapped = body["data"]["ciphertext"]
        self.assertEqual(root.req("POST", "transit/keys/rot/config", {"min_decryption_version": 2})[0], 200)
        st, body, _ = root.req("POST", "transit/decrypt/rot", {"ciphertext": ct1})
        self.assertEqual(st, 400)
        self.assertEqual(body["errors"], ["ciphertext or signature version is disallowed by policy (too old)"])
        st, body, _ = root.req("POST", "transit/decrypt/rot", {"ciphertext": rewrapped})
        self.assertEqual((st, base64.b64decode(body["data"]["plaintext"])), (200, b"dek"))
        st, body, _ = root.req("POST", "transit/decrypt/rot", {"ciphertext": "vault:v9:" + ct1.split(":", 2)[2]})
        self.assertEqual((st, body["errors"]), (400, ["invalid ciphertext: version is too new"]))

    def test_create_key_idempotent_with_warning(self):
        root = self.c()
        st, body, _ = root.req("POST", "transit/keys/idem")
        self.assertEqual(st, 200)
        self.assertIsNone(body.get("warnings"))
        st, body, _ = root.req("POST", "transit/keys/idem")
        self.assertEqual(st, 200)
        self.assertEqual(body["warnings"], ["key idem already existed"])

    def test_read_missing_key_404_empty_errors(self):
        st, body, _ = self.c().req("GET", "transit/keys/nope")
        self.assertEqual((st, body), (404, {"errors": []}))

    def test_encrypt_missing_key_update_only_400(self):
        # transit-token has update (not create) on pvenc-kek only; root upserts.
        st, body, _ = self.c().req("POST", "transit/encrypt/upserted", {"plaintext": b64("x")})
        self.assertEqual(st, 200)
        st, body, _ = self.c().req("POST", "transit/decrypt/missing-key",
                                   {"ciphertext": "vault:v1:AAAA"})
        self.assertEqual((st, body["errors"]), (400, ["encryption key not found"]))

    def test_decrypt_errors(self):
        c = self.c("transit-token")
        cases = {
            "nonsense": "invalid ciphertext: no prefix",
            "vault:v1": "invalid ciphertext: wrong number of fields",
            "vault:v1:!!!": "invalid ciphertext: could not decode base64",
            "vault:v1:" + b64(os.urandom(40)): "cipher: message authentication failed",
        }
        for ct, msg in cases.items():
            st, body, _ = c.req("POST", "transit/decrypt/pvenc-kek", {"ciphertext": ct})
            self.assertEqual((st, body), (400, {"errors": [msg]}), ct)

    def test_derived_key_context_binding(self):
        c = self.c()
        st, body, _ = c.req("POST", "transit/encrypt/pvenc-derived", {"plaintext": b64("x")})
        self.assertEqual(st, 400)
        self.assertIn("missing 'context'", body["errors"][0])
        ct = c.req("POST", "transit/encrypt/pvenc-derived",
                   {"plaintext": b64("dek"), "context": b64("rbd/img-a")})[1]["data"]["ciphertext"]
        st, body, _ = c.req("POST", "transit/decrypt/pvenc-derived", {"ciphertext": ct, "context": b64("rbd/img-a")})
        self.assertEqual((st, base64.b64decode(body["data"]["plaintext"])), (200, b"dek"))
        st, body, _ = c.req("POST", "transit/decrypt/pvenc-derived", {"ciphertext": ct, "context": b64("rbd/img-b")})
        self.assertEqual((st, body["errors"]), (400, ["cipher: message authentication failed"]))

    def test_associated_data_binding(self):
        c = self.c()
        ct = c.req("POST", "transit/encrypt/pvenc-kek",
                   {"plaintext": b64("dek"), "associated_data": b64("img-1")})[1]["data"]["ciphertext"]
        self.assertEqual(c.req("POST", "transit/decrypt/pvenc-kek",
                               {"ciphertext": ct, "associated_data": b64("img-1")})[0], 200)
        self.assertEqual(c.req("POST", "transit/decrypt/pvenc-kek",
                               {"ciphertext": ct, "associated_data": b64("img-2")})[0], 400)

    def test_batch_order_references_and_errors(self):
        c = self.c("transit-token")
        items = [{"plaintext": b64("dek-%d" % i), "reference": "r%d" % i} for i in range(5)]
        st, body, _ = c.req("POST", "transit/encrypt/pvenc-kek", {"batch_input": items})
        self.assertEqual(st, 200)
        res = body["data"]["batch_results"]
        self.assertEqual([r["reference"] for r in res], ["r%d" % i for i in range(5)])
        dec = [{"ciphertext": r["ciphertext"], "reference": r["reference"]} for r in res]
        dec.append({"ciphertext": "garbage", "reference": "bad"})
        st, body, _ = c.req("POST", "transit/decrypt/pvenc-kek", {"batch_input": dec})
        self.assertEqual(st, 400)  # any user error in a batch
        res = body["data"]["batch_results"]
        self.assertEqual([base64.b64decode(r["plaintext"]) for r in res[:5]],
                         [b"dek-%d" % i for i in range(5)])
        self.assertEqual(res[5], {"error": "invalid ciphertext: no prefix", "reference": "bad"})
        st, _, _ = c.req("POST", "transit/decrypt/pvenc-kek",
                         {"batch_input": dec, "partial_failure_response_code": 207})
        self.assertEqual(st, 207)

    def test_batch_mixed_context_400(self):
        st, body, _ = self.c().req("POST", "transit/encrypt/pvenc-derived", {"batch_input": [
            {"plaintext": b64("a"), "context": b64("c")}, {"plaintext": b64("b")}]})
        self.assertEqual(st, 400)
        self.assertNotIn("data", body)

    def test_datakey(self):
        st, body, _ = self.c().req("POST", "transit/datakey/plaintext/pvenc-kek", {"bits": 256})
        self.assertEqual(st, 200)
        self.assertEqual(len(base64.b64decode(body["data"]["plaintext"])), 32)
        st, body, _ = self.c().req("POST", "transit/datakey/wrapped/pvenc-kek", {})
        self.assertNotIn("plaintext", body["data"])
        st, body, _ = self.c().req("POST", "transit/datakey/plaintext/pvenc-kek", {"bits": 100})
        self.assertEqual((st, body["errors"]), (400, ["invalid bit length"]))

    # ---- policies and tokens

    def test_permission_denied_403_body(self):
        for tok in (None, "no-such-token"):
            st, body, _ = self.c(tok).req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})
            self.assertEqual(st, 403)
            self.assertIn("permission denied", body["errors"][0])
        # transit-token may only use pvenc-kek's encrypt/decrypt/rewrap
        st, body, _ = self.c("transit-token").req("GET", "transit/keys/pvenc-kek")
        self.assertEqual(st, 403)
        st, body, _ = self.c("transit-token").req("GET", "secret/data/pvenc/x")
        self.assertEqual(st, 403)
        self.assertEqual(body, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})

    def test_bearer_header(self):
        st, _, _ = self.c(None).req("GET", "auth/token/lookup-self",
                                    headers={"Authorization": "Bearer root-token"})
        self.assertEqual(st, 200)

    def test_token_lookup_renew_expire(self):
        # A token made here, not the config's short-token, whose 3 s run from the server's
        # start: on a loaded runner they may be gone before the test runs. The margins
        # are seconds wide for the same reason.
        st, body, _ = self.c().req("POST", "auth/token/create",
                                   {"policies": ["pvenc-transit"], "ttl": "2s", "renewable": True})
        self.assertEqual(st, 200)
        tok = body["auth"]["client_token"]
        c = self.c(tok)
        st, body, _ = c.req("GET", "auth/token/lookup-self")
        self.assertEqual(st, 200)
        self.assertTrue(body["data"]["renewable"])
        self.assertLessEqual(body["data"]["ttl"], 2)
        st, body, _ = c.req("POST", "auth/token/renew-self", {"increment": "10s"})
        renewed = time.monotonic()
        self.assertEqual(st, 200)
        self.assertEqual(body["auth"]["client_token"], tok)
        self.assertGreaterEqual(body["auth"]["lease_duration"], 9)
        time.sleep(3.0)  # past the original 2 s TTL, well inside the renewed 10 s
        self.assertEqual(c.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})[0], 200)
        time.sleep(max(0.0, renewed + 10.5 - time.monotonic()))
        self.assertEqual(c.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})[0], 403)

    def test_token_create_non_renewable(self):
        st, body, _ = self.c().req("POST", "auth/token/create",
                                   {"policies": ["pvenc-transit"], "ttl": "1h", "renewable": False})
        self.assertEqual(st, 200)
        tok = body["auth"]["client_token"]
        st, body, _ = self.c(tok).req("POST", "auth/token/renew-self", {})
        self.assertEqual((st, body["errors"]), (400, ["lease is not renewable"]))

    def test_token_revoke(self):
        st, body, _ = self.c().req("POST", "auth/token/create", {"policies": ["pvenc-transit"]})
        tok = body["auth"]["client_token"]
        self.assertEqual(self.c(tok).req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})[0], 200)
        self.assertEqual(self.c().req("POST", "auth/token/revoke", {"token": tok})[0], 204)
        st, body, _ = self.c(tok).req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})
        self.assertEqual(st, 403)
        self.assertIn("permission denied", body["errors"][0])
        # A token without the capability cannot revoke others.
        self.assertEqual(self.c("transit-token").req("POST", "auth/token/revoke", {"token": "kv-token"})[0], 403)

    # ---- auth methods

    def test_approle_login(self):
        st, body, _ = self.c(None).req("POST", "auth/approle/login",
                                       {"role_id": "role-1234", "secret_id": "secret-5678"})
        self.assertEqual(st, 200)
        self.assertIsNone(body["data"])
        tok = body["auth"]["client_token"]
        self.assertTrue(body["auth"]["renewable"])
        self.assertEqual(self.c(tok).req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})[0], 200)
        st, body, _ = self.c(None).req("POST", "auth/approle/login",
                                       {"role_id": "role-1234", "secret_id": "wrong"})
        self.assertEqual((st, body["errors"]), (400, ["invalid role or secret ID"]))

    def test_kubernetes_login(self):
        def jwt(claims):
            return subprocess.check_output([SERVER, "--config", CONFIG, "--mint-jwt", json.dumps(claims)]).decode().strip()
        good = jwt({"kubernetes.io/serviceaccount/namespace": "tenant-a",
                    "kubernetes.io/serviceaccount/service-account.name": "ceph-csi-vault-sa",
                    "exp": int(time.time()) + 600})
        st, body, _ = self.c(None).req("POST", "auth/kubernetes/login", {"role": "csi-kubernetes", "jwt": good})
        self.assertEqual(st, 200)
        self.assertEqual(body["auth"]["metadata"]["service_account_name"], "ceph-csi-vault-sa")
        st, body, _ = self.c(None).req("POST", "auth/kubernetes/login", {"role": "csi-kubernetes", "jwt": good[:-4] + "AAAA"})
        self.assertEqual(st, 403)
        st, body, _ = self.c(None).req("POST", "auth/kubernetes/login", {"role": "nope", "jwt": good})
        self.assertEqual((st, body["errors"]), (400, ['invalid role name "nope"']))
        other = jwt({"kubernetes.io/serviceaccount/namespace": "x",
                     "kubernetes.io/serviceaccount/service-account.name": "intruder"})
        self.assertEqual(self.c(None).req("POST", "auth/kubernetes/login", {"role": "csi-kubernetes", "jwt": other})[0], 400)

    # ---- namespaces

    def test_namespace_header(self):
        t = self.c("tenant-token", namespace="tenant-a")
        st, body, _ = t.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})
        self.assertEqual(st, 200)
        ct = body["data"]["ciphertext"]
        # Without the header the tenant token is outside its namespace.
        self.assertEqual(self.c("tenant-token").req("POST", "transit/decrypt/pvenc-kek", {"ciphertext": ct})[0], 403)
        # The root namespace's key of the same name is a different key.
        self.assertEqual(self.c().req("POST", "transit/decrypt/pvenc-kek", {"ciphertext": ct})[0], 400)
        self.assertEqual(t.req("POST", "transit/decrypt/pvenc-kek", {"ciphertext": ct})[0], 200)

    # ---- KV

    def test_kv_v1(self):
        c = self.c("kv-token")
        self.assertEqual(c.req("POST", "kv1/pvenc/vol-1", {"passphrase": "p1"})[0], 204)
        st, body, _ = c.req("GET", "kv1/pvenc/vol-1")
        self.assertEqual((st, body["data"]), (200, {"passphrase": "p1"}))
        st, body, _ = c.req("LIST", "kv1/pvenc/")
        self.assertEqual(body["data"]["keys"], ["vol-1"])
        self.assertEqual(c.req("DELETE", "kv1/pvenc/vol-1")[0], 204)
        self.assertEqual(c.req("GET", "kv1/pvenc/vol-1")[:2], (404, {"errors": []}))

    def test_kv_v2(self):
        c = self.c("kv-token")
        st, body, _ = c.req("POST", "secret/data/pvenc/vol-2", {"data": {"passphrase": "a"}})
        self.assertEqual((st, body["data"]["version"]), (200, 1))
        c.req("POST", "secret/data/pvenc/vol-2", {"data": {"passphrase": "b"}})
        st, body, _ = c.req("GET", "secret/data/pvenc/vol-2")
        self.assertEqual(body["data"]["data"], {"passphrase": "b"})
        self.assertEqual(body["data"]["metadata"]["version"], 2)
        st, body, _ = c.req("GET", "secret/data/pvenc/vol-2?version=1")
        self.assertEqual(body["data"]["data"], {"passphrase": "a"})
        st, body, _ = c.req("POST", "secret/data/pvenc/vol-2", {"data": {"x": 1}, "options": {"cas": 1}})
        self.assertEqual(st, 400)
        self.assertEqual(c.req("DELETE", "secret/data/pvenc/vol-2")[0], 204)
        st, body, _ = c.req("GET", "secret/data/pvenc/vol-2")
        self.assertEqual(st, 404)
        self.assertIsNone(body["data"]["data"])
        self.assertTrue(body["data"]["metadata"]["deletion_time"])
        st, body, _ = c.req("GET", "secret/metadata/pvenc/vol-2")
        self.assertEqual(body["data"]["current_version"], 2)
        self.assertEqual(c.req("DELETE", "secret/metadata/pvenc/vol-2")[0], 204)
        self.assertEqual(c.req("GET", "secret/data/pvenc/vol-2")[:2], (404, {"errors": []}))

    def test_sys_mounts_kv_version(self):
        st, body, _ = self.c().req("GET", "sys/mounts")
        self.assertEqual(body["data"]["secret/"]["options"]["version"], "2")
        self.assertEqual(body["data"]["kv1/"]["options"]["version"], "1")
        self.assertEqual(body["data"]["transit/"]["type"], "transit")

    # ---- faults (test-only endpoint)

    def test_fault_429_retry_after(self):
        c = self.c()
        c.req("POST", "/_test/fault", {"path": "transit/encrypt/", "status": 429, "count": 1,
                                      "retry_after": 1,
                                      "errors": ["request path \"transit/encrypt/pvenc-kek\": rate limit quota exceeded"]})
        st, body, hdrs = c.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})
        self.assertEqual(st, 429)
        self.assertIn("rate limit quota exceeded", body["errors"][0])
        self.assertEqual(hdrs.get("Retry-After"), "1")
        self.assertEqual(c.req("POST", "transit/encrypt/pvenc-kek", {"plaintext": b64("x")})[0], 200)


class VaultServerTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pvenc-vault-tls.")
        cls.certs = os.path.join(cls.tmp, "pki")
        subprocess.check_call([os.path.join(HERE, "mkcerts"), cls.certs, "vault.pvenc.test"])
        p = lambda n: os.path.join(cls.certs, n)  # noqa: E731
        cls.proc, cls.addr = start_server(cls.tmp, "--tls-cert", p("server.crt"), "--tls-key",
                                          p("server.key"), "--tls-client-ca", p("ca.crt"))

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ctx(self, ca="ca.crt", client=None, server_name=None):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, ca))
        if client:
            ctx.load_cert_chain(os.path.join(self.certs, client + ".crt"),
                                os.path.join(self.certs, client + ".key"))
        return ctx

    def test_https_with_test_ca(self):
        self.assertTrue(self.addr.startswith("https://127.0.0.1:"))
        st, _, _ = Client(self.addr, ctx=self.ctx()).req("GET", "sys/health")
        self.assertEqual(st, 200)

    def test_wrong_ca_refused(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            Client(self.addr, ctx=self.ctx(ca="other-ca.crt")).req("GET", "sys/health")

    def test_cert_auth_login(self):
        st, body, _ = Client(self.addr, ctx=self.ctx(client="client")).req("POST", "auth/cert/login", {})
        self.assertEqual(st, 200)
        self.assertEqual(body["auth"]["metadata"]["common_name"], "pvenc-client")
        st, body, _ = Client(self.addr, ctx=self.ctx()).req("POST", "auth/cert/login", {})
        self.assertEqual((st, body["errors"]), (400, ["client certificate must be supplied"]))

    def test_foreign_client_cert_rejected_in_handshake(self):
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            Client(self.addr, ctx=self.ctx(client="rogue-client")).req("POST", "auth/cert/login", {})


if __name__ == "__main__":
    tap_unittest.main()
