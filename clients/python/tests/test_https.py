"""HTTPS end to end: a CA and a server certificate made here with openssl, the
real server with --tls-cert/--tls-key, and the client trusting the CA through
MLTRACE_CA_CERT or set_ca_cert()."""

import os
import shutil
import subprocess
import tempfile
import unittest

from _support import Server

import mltrace
from mltrace import _config, _http


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certificates(folder: str) -> None:
    """ca.pem, and cert.pem/key.pem for 127.0.0.1 signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mltrace test CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "key.pem", "-out", "server.csr", cwd=folder)
    with open(os.path.join(folder, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
             "-days", "2", "-extfile", "san.cnf", "-out", "cert.pem", cwd=folder)


@unittest.skipIf(shutil.which("openssl") is None, "openssl is needed to make the test certificates (test.sh installs it)")
class HttpsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.mkdtemp(prefix="mltrace-tls-")
        make_certificates(cls.folder)
        cert, key = os.path.join(cls.folder, "cert.pem"), os.path.join(cls.folder, "key.pem")
        cls.srv = Server(extra_args=["--tls-cert", cert, "--tls-key", key])
        cls.srv.ca_file = os.path.join(cls.folder, "ca.pem")
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()
        shutil.rmtree(cls.folder, ignore_errors=True)

    def setUp(self):
        self.saved = os.environ.pop("MLTRACE_CA_CERT", None)
        _config.reset()
        _http.close()
        mltrace.set_db_uri(self.srv.url)
        mltrace.set_retries(count=0, backoff=0)

    def tearDown(self):
        os.environ.pop("MLTRACE_CA_CERT", None)
        if self.saved is not None:
            os.environ["MLTRACE_CA_CERT"] = self.saved
        _config.reset()
        _http.close()

    def test_the_url_is_https(self):
        self.assertTrue(self.srv.url.startswith("https://127.0.0.1:"))

    def test_logs_and_reads_over_https_trusting_the_ca_from_the_environment(self):
        os.environ["MLTRACE_CA_CERT"] = self.srv.ca_file
        cr = mltrace.ComponentRun("secure")
        cr.set_start_timestamp()
        cr.set_end_timestamp()
        cr.add_output("secure.csv")
        mltrace.log_component_run(cr)
        self.assertIn(cr.id, mltrace.get_recent_run_ids())

    def test_set_ca_cert(self):
        mltrace.set_ca_cert(self.srv.ca_file)
        self.assertEqual(mltrace.health()["status"], "ok")

    def test_an_untrusted_certificate_is_refused_naming_the_server(self):
        with self.assertRaises(mltrace.ConnectionError) as cm:
            mltrace.health()
        self.assertIn(self.srv.url, str(cm.exception))
        self.assertIn("CERTIFICATE", str(cm.exception).upper())

    def test_set_ca_cert_checks_the_file(self):
        with self.assertRaises(ValueError):
            mltrace.set_ca_cert(os.path.join(self.folder, "missing.pem"))


class RetryNoticeTest(unittest.TestCase):
    def setUp(self):
        _config.reset()
        _http.close()

    def tearDown(self):
        _config.reset()
        _http.close()

    def test_the_first_failure_says_it_is_retrying_and_where(self):
        mltrace.set_db_uri("http://127.0.0.1:9")
        mltrace.set_retries(count=2, backoff=0.01)
        with self.assertLogs("mltrace", level="WARNING") as logs:
            with self.assertRaises(mltrace.ConnectionError):
                mltrace.health()
        self.assertEqual(len(logs.records), 1, logs.output)
        self.assertIn("cannot reach the server at http://127.0.0.1:9", logs.output[0])
        self.assertIn("retrying 2 times", logs.output[0])


if __name__ == "__main__":
    unittest.main()
