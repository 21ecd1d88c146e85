#!/usr/bin/python3
"""The Azure Key Vault/Azure AD test server's own tests: the client-credentials grant
with a certificate assertion (a JWT built and signed here) and Key Vault's secrets API,
against the documented shapes (../shared/research/cloudkms.md), from a live process."""
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tap_unittest  # noqa: E402
from server_case import ServerCase  # noqa: E402

SERVER = os.path.join(HERE, "azure-kv-server")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "6731de76-14a6-49ae-97bc-6eba6914391e"


def make_cert(path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pvenc")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


class Live(ServerCase):
    SERVER = SERVER

    @classmethod
    def config(cls, tmp):
        cls.cert, cls.key = make_cert(os.path.join(tmp, "client.pem"))
        cls.other_cert, cls.other_key = make_cert(os.path.join(tmp, "other.pem"))
        return {"tenant": TENANT, "clients": {CLIENT: os.path.join(tmp, "client.pem")}}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token_url = "%s/%s/oauth2/v2.0/token" % (cls.addr, TENANT)

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body, headers or {})
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None), r.getheader("WWW-Authenticate")

    def assertion(self, key=None, cert=None, aud=None, exp=600, iss=CLIENT):
        cert, key = cert or self.cert, key or self.key
        h = {"alg": "RS256", "typ": "JWT", "x5t": base64.b64encode(cert.fingerprint(hashes.SHA1())).decode()}
        now = int(time.time())
        c = {"aud": aud or self.token_url, "iss": iss, "sub": iss, "jti": str(uuid.uuid4()),
             "nbf": now, "exp": now + exp}
        part = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(c).encode())
        return part + "." + b64url(key.sign(part.encode(), padding.PKCS1v15(), hashes.SHA256()))

    def token(self, jwt=None):
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT,
                                       "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                       "client_assertion": jwt or self.assertion(),
                                       "scope": "https://vault.azure.net/.default"})
        return self.req("POST", "/%s/oauth2/v2.0/token" % TENANT, form,
                        {"Content-Type": "application/x-www-form-urlencoded"})

    def kv(self, method, path, body=None):
        _, tok, _ = self.token()
        return self.req(method, path, json.dumps(body) if body is not None else None,
                        {"Authorization": "Bearer " + tok["access_token"], "Content-Type": "application/json"})

    def test_token_shape(self):
        st, out, _ = self.token()
        self.assertEqual((st, out["token_type"]), (200, "Bearer"))
        for k in ("expires_in", "ext_expires_in", "access_token"):
            self.assertIn(k, out)

    def test_assertion_checks(self):
        for jwt, code in ((self.assertion(key=self.other_key), 700027),
                          (self.assertion(key=self.other_key, cert=self.other_cert), 700027),
                          (self.assertion(aud="https://login.microsoftonline.com/x/oauth2/v2.0/token"), 700212),
                          (self.assertion(exp=-10), 700024),
                          (self.assertion(iss="someone-else"), 700021)):
            st, out, _ = self.token(jwt)
            self.assertEqual((st, out["error"], out["error_codes"]), (401, "invalid_client", [code]))
            self.assertTrue(out["error_description"].startswith("AADSTS%d:" % code))

    def test_challenge_without_token(self):
        st, out, www = self.req("GET", "/secrets/x/?api-version=7.5")
        self.assertEqual((st, out["error"]["code"]), (401, "Unauthorized"))
        self.assertIn('authorization="https://login.microsoftonline.com/%s"' % TENANT, www)
        self.assertIn('resource="https://vault.azure.net"', www)

    def test_secret_lifecycle(self):
        st, b, _ = self.kv("PUT", "/secrets/vol-1?api-version=7.5", {"value": "s3cret"})
        self.assertEqual((st, b["value"]), (200, "s3cret"))
        self.assertEqual(set(b["attributes"]) >= {"enabled", "created", "updated"}, True)
        version = b["id"].rsplit("/", 1)[1]
        self.kv("PUT", "/secrets/vol-1?api-version=7.5", {"value": "v2"})
        self.assertEqual(self.kv("GET", "/secrets/vol-1/?api-version=7.5")[1]["value"], "v2")
        self.assertEqual(self.kv("GET", "/secrets/vol-1/%s?api-version=7.5" % version)[1]["value"], "s3cret")
        st, d, _ = self.kv("DELETE", "/secrets/vol-1?api-version=7.5")
        self.assertEqual(st, 200)
        self.assertIn("recoveryId", d)
        self.assertIn("scheduledPurgeDate", d)
        st, e, _ = self.kv("GET", "/secrets/vol-1/?api-version=7.5")
        self.assertEqual((st, e["error"]["code"]), (404, "SecretNotFound"))
        st, e, _ = self.kv("PUT", "/secrets/vol-1?api-version=7.5", {"value": "again"})
        self.assertEqual((st, e["error"]["code"]), (409, "Conflict"))
        self.assertIn("deleted but recoverable", e["error"]["message"])

    def test_names_and_api_version(self):
        st, e, _ = self.kv("GET", "/secrets/bad.name/?api-version=7.5")
        self.assertEqual((st, e["error"]["code"]), (400, "BadParameter"))
        st, e, _ = self.kv("GET", "/secrets/x/")
        self.assertEqual(st, 400)

    def test_expired_token(self):
        _, tok, _ = self.token()
        self.req("POST", "/_test/expire", b"{}")
        st, e, _ = self.req("GET", "/secrets/x/?api-version=7.5", None,
                            {"Authorization": "Bearer " + tok["access_token"]})
        self.assertEqual((st, e["error"]["code"]), (401, "Unauthorized"))


if __name__ == "__main__":
    tap_unittest.main()
