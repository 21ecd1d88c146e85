"""A unittest base for the cloud KMS test servers' own tests: starts SERVER with CONFIG
(a dict) on loopback for the class, and stops it afterwards; addr and port are set."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest


class ServerCase(unittest.TestCase):
    SERVER = None
    CONFIG = None

    @classmethod
    def config(cls, tmp):
        """The config dict; a class may build it in tmp (certificates) instead of CONFIG."""
        return cls.CONFIG

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cfg = os.path.join(cls.tmp, "cfg.json")
        with open(cfg, "w") as f:
            json.dump(cls.config(cls.tmp), f)
        ready = os.path.join(cls.tmp, "ready")
        cls.proc = subprocess.Popen([cls.SERVER, "--config", cfg, "--ready-file", ready])
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        with open(ready) as f:
            cls.addr = f.readline().strip()
        cls.port = int(cls.addr.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        shutil.rmtree(cls.tmp)
