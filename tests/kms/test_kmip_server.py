#!/usr/bin/python3
"""Exercises the PyKMIP server started by tests/lib/kms.sh (mutual TLS) with PyKMIP's own
client: the operations pvenc's KMIP provider relies on, and refusal of foreign certs.
Environment: KMIP_PORT, KMIP_DIR (certs from tests/kms/mkcerts)."""
import os
import ssl
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tap_unittest  # noqa: E402

from kmip import enums  # noqa: E402
from kmip.pie.client import ProxyKmipClient  # noqa: E402

PORT = int(os.environ["KMIP_PORT"])
D = os.environ["KMIP_DIR"]


def client(cert="client"):
    return ProxyKmipClient(hostname="127.0.0.1", port=PORT,
                           cert=os.path.join(D, cert + ".crt"), key=os.path.join(D, cert + ".key"),
                           ca=os.path.join(D, "ca.crt"), ssl_version="PROTOCOL_TLSv1_2",
                           config_file="/dev/null", kmip_version=enums.KMIPVersion.KMIP_1_2)


class KmipServerTest(unittest.TestCase):
    def test_create_encrypt_decrypt_destroy(self):
        with client() as c:
            uid = c.create(enums.CryptographicAlgorithm.AES, 256,
                           cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                                     enums.CryptographicUsageMask.DECRYPT])
            self.assertTrue(uid)
            c.activate(uid)
            dek = os.urandom(32)
            params = {"cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
                      "block_cipher_mode": enums.BlockCipherMode.CBC,
                      "padding_method": enums.PaddingMethod.PKCS5}
            iv = os.urandom(16)
            ct, _ = c.encrypt(dek, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv)
            self.assertNotEqual(ct, dek)
            pt = c.decrypt(ct, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv)
            self.assertEqual(pt, dek)
            c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
            c.destroy(uid)

    def test_register_get_locate(self):
        from kmip.pie import objects
        with client() as c:
            dek = os.urandom(32)
            key = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, dek, name="pvenc-test-dek")
            uid = c.register(key)
            self.assertEqual(c.get(uid).value, dek)
            self.assertIn(uid, c.locate(attributes=[
                c.attribute_factory.create_attribute(enums.AttributeType.NAME, "pvenc-test-dek")]))
            c.destroy(uid)

    def test_foreign_client_cert_refused(self):
        c = client("rogue-client")
        with self.assertRaises(Exception):
            c.open()
            c.create(enums.CryptographicAlgorithm.AES, 256)
        try:
            c.close()
        except Exception:
            pass


if __name__ == "__main__":
    tap_unittest.main()
