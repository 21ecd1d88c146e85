#!/usr/bin/python3
"""The IBM Key Protect/IAM test server's own tests: each checks a documented shape of
IAM's API-key exchange or Key Protect's API v2 (../shared/research/cloudkms.md) against a
live server process: token answers and IAM errors, wrap/unwrap/rewrap with aad, the
ciphertext's documented form, older versions unwrapping with a rewrapped ciphertext,
rotation's once-an-hour rule, key states, the error body, missing token or instance."""
import base64
import http.client
import json
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tap_unittest  # noqa: E402
from server_case import ServerCase  # noqa: E402

SERVER = os.path.join(HERE, "ibmkp-server")
KEY = "12345678-90ab-cdef-1234-567890abcdef"
KEY2 = "abcdef12-3456-7890-abcd-ef1234567890"


class Live(ServerCase):
    SERVER = SERVER
    CONFIG = {"instance": "inst-1", "api_keys": ["good-key"], "token_ttl": 3600,
              "keys": [{"id": KEY}, {"id": KEY2}]}

    def req(self, path, body=None, headers=None, form=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            h = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            data = json.dumps(body).encode() if body is not None else b""
            h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, data, h)
        r = c.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None

    def token(self):
        st, out = self.req("/identity/token", form={"grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                                                      "apikey": "good-key"})
        self.assertEqual(st, 200)
        return out

    def kp(self, path, body=None, token=None, instance="inst-1"):
        h = {"Bluemix-Instance": instance} if instance else {}
        h["Authorization"] = "Bearer " + (token or self.token()["access_token"])
        return self.req("/api/v2/" + path, body, h)

    def test_iam_token_shape(self):
        out = self.token()
        self.assertEqual(out["token_type"], "Bearer")
        self.assertEqual(out["expires_in"], 3600)
        for k in ("access_token", "refresh_token", "expiration", "scope"):
            self.assertIn(k, out)

    def test_iam_error_shape(self):
        st, out = self.req("/oidc/token", form={"grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                                                 "apikey": "bad"})
        self.assertEqual((st, out["errorCode"]), (400, "BXNIM0415E"))
        self.assertIn("requestId", out["context"])

    def test_wrap_unwrap_with_aad(self):
        pt = base64.b64encode(b"d" * 32).decode()
        st, w = self.kp("keys/%s/actions/wrap" % KEY, {"plaintext": pt, "aad": ["vol-1"]})
        self.assertEqual(st, 200)
        self.assertEqual(set(w["keyVersion"]), {"id", "creationDate"})
        inner = json.loads(base64.b64decode(w["ciphertext"]))
        self.assertEqual(set(inner), {"ciphertext", "hash", "iv", "version", "handle"})
        self.assertEqual(inner["version"], "3.0.0")
        st, u = self.kp("keys/%s/actions/unwrap" % KEY, {"ciphertext": w["ciphertext"], "aad": ["vol-1"]})
        self.assertEqual((st, u["plaintext"]), (200, pt))
        self.assertNotIn("rewrappedKeyVersion", u)
        st, e = self.kp("keys/%s/actions/unwrap" % KEY, {"ciphertext": w["ciphertext"], "aad": ["vol-2"]})
        self.assertEqual((st, e["resources"][0]["reasons"][0]["code"]), (400, "INVALID_FIELD_ERR"))
        self.assertEqual(e["metadata"]["collectionType"], "application/vnd.ibm.kms.error+json")
        self.assertIn("(INVALID_FIELD_ERR)", e["resources"][0]["errorMsg"])

    def test_wrap_without_plaintext_generates(self):
        st, w = self.kp("keys/%s/actions/wrap" % KEY, {})
        self.assertEqual((st, len(base64.b64decode(w["plaintext"]))), (200, 32))

    def test_rotation_and_rewrap(self):
        pt = base64.b64encode(b"r" * 32).decode()
        _, w = self.kp("keys/%s/actions/wrap" % KEY2, {"plaintext": pt, "aad": ["a"]})
        st, _ = self.kp("keys/%s/actions/rotate" % KEY2, {})
        self.assertEqual(st, 204)
        st, e = self.kp("keys/%s/actions/rotate" % KEY2, {})
        self.assertEqual((st, e["resources"][0]["reasons"][0]["code"]), (409, "KEY_ROTATION_NOT_PERMITTED"))
        st, u = self.kp("keys/%s/actions/unwrap" % KEY2, {"ciphertext": w["ciphertext"], "aad": ["a"]})
        self.assertEqual((st, u["plaintext"]), (200, pt))
        self.assertIn("ciphertext", u)
        self.assertEqual(u["rewrappedKeyVersion"]["id"], json.loads(base64.b64decode(u["ciphertext"]))["handle"])
        st, r = self.kp("keys/%s/actions/rewrap" % KEY2, {"ciphertext": w["ciphertext"], "aad": ["a"]})
        self.assertEqual(st, 200)
        self.assertNotEqual(r["keyVersion"]["id"], u["keyVersion"]["id"])

    def test_auth_and_instance(self):
        st, e = self.kp("keys/%s/actions/wrap" % KEY, {}, token="nope")
        self.assertEqual((st, e["resources"][0]["reasons"][0]["code"]), (401, "UNAUTHORIZED_ERR"))
        st, e = self.kp("keys/%s/actions/wrap" % KEY, {}, instance=None)
        self.assertEqual(st, 401)

    def test_key_states(self):
        key = "0000aaaa-0000-0000-0000-000000000000"
        st, out = self.kp("keys/%s/actions/wrap" % key, {})
        self.assertEqual((st, out["resources"][0]["reasons"][0]["code"]), (404, "KEY_NOT_FOUND_ERR"))
        self.req("/_test/key", {"id": KEY2, "state": 2})
        st, out = self.kp("keys/%s/actions/wrap" % KEY2, {})
        self.assertEqual((st, out["resources"][0]["reasons"][0]["code"]), (409, "KEY_ACTION_INVALID_STATE_ERR"))
        self.req("/_test/key", {"id": KEY2, "state": 1})

    def test_create_root_key(self):
        body = {"metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
                "resources": [{"type": "application/vnd.ibm.kms.key+json", "name": "k", "extractable": False}]}
        st, out = self.kp("keys", body)
        self.assertEqual((st, out["resources"][0]["state"], out["resources"][0]["extractable"]), (201, 1, False))


if __name__ == "__main__":
    tap_unittest.main()
