#!/usr/bin/python3
"""The AWS KMS/STS test server's own tests: its Signature Version 4 against AWS's
published test suite, and its answers against the documented shapes of AWS KMS's JSON
1.1 API and STS's AssumeRoleWithWebIdentity (../shared/research/cloudkms.md), from a
live server process, with requests signed here."""
import base64
import datetime
import http.client
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tap_unittest  # noqa: E402
from server_case import ServerCase  # noqa: E402

SERVER = os.path.join(HERE, "aws-kms-server")
loader = importlib.machinery.SourceFileLoader("awsserver", SERVER)
spec = importlib.util.spec_from_loader("awsserver", loader)
srv = importlib.util.module_from_spec(spec)
loader.exec_module(srv)

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = "20150830T123600Z"
STS_TOKEN = ("AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAe"
             "MicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZ"
             "ampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr"
             "7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/"
             "oLxBA==")
NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


class SigV4Suite(unittest.TestCase):
    """AWS's Signature Version 4 test suite (signature-v4-test-suite.html)."""

    def sig(self, method, headers, body=b""):
        h = {"host": "example.amazonaws.com", "x-amz-date": SUITE_DATE}
        h.update(headers)
        creq = srv.canonical_request(method, "/", "", h, sorted(h), body)
        return srv.signature(SUITE_SECRET, SUITE_DATE, "us-east-1", "service", creq)

    def test_get_vanilla(self):
        self.assertEqual(self.sig("GET", {}),
                         "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")

    def test_post_vanilla(self):
        self.assertEqual(self.sig("POST", {}),
                         "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")

    def test_post_header_value_case(self):
        self.assertEqual(self.sig("POST", {"my-header1": "VALUE1"}),
                         "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d")

    def test_post_x_www_form_urlencoded(self):
        self.assertEqual(self.sig("POST", {"content-type": "application/x-www-form-urlencoded"},
                                  b"Param1=value1"),
                         "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")

    def test_post_sts_header_before(self):
        self.assertEqual(self.sig("POST", {"x-amz-security-token": STS_TOKEN}),
                         "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead")


CONFIG = {
    "region": "eu-west-1", "account": "111122223333",
    "credentials": [{"access_key": "AKIAPVENCTEST0000001", "secret_key": "s3cr3t/KEY+example"}],
    "keys": [{"id": "1234abcd-12ab-34cd-56ef-1234567890ab", "alias": "alias/pvenc"},
             {"id": "0987dcba-09fe-87dc-65ba-ab0987654321"}],
    "roles": {"arn:aws:iam::111122223333:role/pvenc": {"tokens": ["good-token"], "duration": 900}},
}
ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER = "arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"


class Live(ServerCase):
    SERVER = SERVER
    CONFIG = CONFIG

    def raw(self, path, body, headers):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("POST", path, body, headers)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()

    def kms(self, op, req, akid="AKIAPVENCTEST0000001", secret="s3cr3t/KEY+example",
            token=None, region="eu-west-1", when=None, tamper=False):
        body = json.dumps(req).encode()
        amz = (when or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        h = {"content-type": "application/x-amz-json-1.1", "host": "127.0.0.1:%d" % self.port,
             "x-amz-date": amz, "x-amz-target": "TrentService." + op}
        if token:
            h["x-amz-security-token"] = token
        signed = sorted(h)
        creq = srv.canonical_request("POST", "/", "", h, signed, body)
        sig = srv.signature(secret, amz, region, "kms", creq)
        if tamper:
            body = body.replace(b"}", b", \"x\": 1}", 1)
        h["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s/%s/kms/aws4_request, "
                              "SignedHeaders=%s, Signature=%s" % (akid, amz[:8], region,
                                                                   ";".join(signed), sig))
        st, ctype, out = self.raw("/", body, h)
        self.assertEqual(ctype, "application/x-amz-json-1.1")
        return st, json.loads(out)

    def encrypt(self, ctx=None, key=ARN):
        req = {"KeyId": key, "Plaintext": base64.b64encode(b"k" * 32).decode()}
        if ctx is not None:
            req["EncryptionContext"] = ctx
        return self.kms("Encrypt", req)

    def test_encrypt_decrypt_shapes(self):
        st, out = self.encrypt({"pvenc:binding": "v"}, key="alias/pvenc")
        self.assertEqual(st, 200)
        self.assertEqual((out["KeyId"], out["EncryptionAlgorithm"]), (ARN, "SYMMETRIC_DEFAULT"))
        base64.b64decode(out["CiphertextBlob"], validate=True)
        st, dec = self.kms("Decrypt", {"CiphertextBlob": out["CiphertextBlob"],
                                       "EncryptionContext": {"pvenc:binding": "v"}})
        self.assertEqual((st, dec["KeyId"], base64.b64decode(dec["Plaintext"])), (200, ARN, b"k" * 32))

    def test_context_mismatch_is_invalid_ciphertext(self):
        _, out = self.encrypt({"pvenc:binding": "a"})
        st, err = self.kms("Decrypt", {"CiphertextBlob": out["CiphertextBlob"],
                                       "EncryptionContext": {"pvenc:binding": "b"}})
        self.assertEqual((st, err["__type"]), (400, "InvalidCiphertextException"))
        st, err = self.kms("Decrypt", {"CiphertextBlob": out["CiphertextBlob"]})
        self.assertEqual((st, err["__type"]), (400, "InvalidCiphertextException"))

    def test_decrypt_with_another_key_id(self):
        _, out = self.encrypt()
        st, err = self.kms("Decrypt", {"CiphertextBlob": out["CiphertextBlob"], "KeyId": OTHER})
        self.assertEqual((st, err["__type"]), (400, "IncorrectKeyException"))

    def test_unknown_and_disabled_keys(self):
        st, err = self.encrypt(key="arn:aws:kms:eu-west-1:111122223333:key/nope")
        self.assertEqual((st, err["__type"]), (400, "NotFoundException"))
        self.assertIn("message", err)
        self.raw("/_test/key", json.dumps({"id": OTHER, "state": "Disabled"}).encode(), {})
        st, err = self.encrypt(key=OTHER)
        self.assertEqual((st, err["__type"]), (400, "DisabledException"))
        self.raw("/_test/key", json.dumps({"id": OTHER, "state": "PendingDeletion"}).encode(), {})
        st, err = self.encrypt(key=OTHER)
        self.assertEqual((st, err["__type"]), (400, "KMSInvalidStateException"))
        self.raw("/_test/key", json.dumps({"id": OTHER, "state": "Enabled"}).encode(), {})

    def test_signature_checks(self):
        st, err = self.kms("Encrypt", {}, secret="wrong")
        self.assertEqual((st, err["__type"]), (400, "InvalidSignatureException"))
        st, err = self.kms("Encrypt", {}, tamper=True)
        self.assertEqual((st, err["__type"]), (400, "InvalidSignatureException"))
        st, err = self.kms("Encrypt", {}, akid="AKIAUNKNOWN")
        self.assertEqual((st, err["__type"]), (400, "UnrecognizedClientException"))
        st, err = self.kms("Encrypt", {}, region="us-east-1")
        self.assertEqual((st, err["__type"]), (400, "InvalidSignatureException"))
        old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        st, err = self.kms("Encrypt", {}, when=old)
        self.assertEqual((st, err["__type"]), (400, "InvalidSignatureException"))
        st, _, out = self.raw("/", b"{}", {"Content-Type": "application/x-amz-json-1.1",
                                           "X-Amz-Target": "TrentService.Encrypt"})
        self.assertEqual((st, json.loads(out)["__type"]), (400, "IncompleteSignatureException"))

    def sts(self, token, role="arn:aws:iam::111122223333:role/pvenc"):
        form = urllib.parse.urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                       "RoleArn": role, "RoleSessionName": "pvenc",
                                       "WebIdentityToken": token}).encode()
        st, ctype, out = self.raw("/", form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(ctype, "text/xml")
        return st, ET.fromstring(out)

    def test_sts_and_session_credentials(self):
        st, doc = self.sts("good-token")
        self.assertEqual(st, 200)
        cr = doc.find(NS + "AssumeRoleWithWebIdentityResult/" + NS + "Credentials")
        akid, secret, token = (cr.find(NS + n).text for n in ("AccessKeyId", "SecretAccessKey", "SessionToken"))
        exp = datetime.datetime.strptime(cr.find(NS + "Expiration").text, "%Y-%m-%dT%H:%M:%SZ")
        self.assertTrue(akid.startswith("ASIA"))
        self.assertGreater(exp.replace(tzinfo=datetime.timezone.utc).timestamp(), time.time() + 800)
        st, _ = self.kms("Encrypt", {"KeyId": ARN, "Plaintext": "AAAA"}, akid=akid, secret=secret, token=token)
        self.assertEqual(st, 200)
        st, err = self.kms("Encrypt", {"KeyId": ARN, "Plaintext": "AAAA"}, akid=akid, secret=secret)
        self.assertEqual((st, err["__type"]), (400, "UnrecognizedClientException"))
        self.raw("/_test/expire", b"{}", {})
        st, err = self.kms("Encrypt", {"KeyId": ARN, "Plaintext": "AAAA"}, akid=akid, secret=secret, token=token)
        self.assertEqual((st, err["__type"]), (400, "ExpiredTokenException"))

    def test_sts_errors(self):
        st, doc = self.sts("bad-token")
        self.assertEqual((st, doc.find(NS + "Error/" + NS + "Code").text), (400, "InvalidIdentityToken"))
        st, doc = self.sts("good-token", role="arn:aws:iam::111122223333:role/other")
        self.assertEqual((st, doc.find(NS + "Error/" + NS + "Code").text), (403, "AccessDenied"))

    def test_injected_faults(self):
        self.raw("/_test/fault", json.dumps({"op": "Encrypt", "status": 400, "type": "ThrottlingException",
                                             "message": "Rate exceeded"}).encode(), {})
        st, err = self.encrypt()
        self.assertEqual((st, err["__type"], err["message"]), (400, "ThrottlingException", "Rate exceeded"))
        self.raw("/_test/fault", json.dumps({"op": "Encrypt", "status": 500}).encode(), {})
        st, err = self.encrypt()
        self.assertEqual((st, err["__type"]), (500, "KMSInternalException"))
        self.assertEqual(self.encrypt()[0], 200)


if __name__ == "__main__":
    tap_unittest.main()
