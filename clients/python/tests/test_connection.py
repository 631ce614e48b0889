"""Connection settings, errors that name the server, auth token."""

import os
import time
import unittest

from _support import MltraceTestCase, Server, free_port, shared_http_server

import mltrace
from mltrace import _config, _http


class SettingsTest(unittest.TestCase):
    KEYS = ("MLTRACE_SERVER", "DB_SERVER", "DB_URI", "MLTRACE_TOKEN")

    def setUp(self):
        self.saved = {k: os.environ.pop(k, None) for k in self.KEYS}
        _config.reset()

    def tearDown(self):
        for k, v in self.saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
        _config.reset()
        _http.close()

    def test_default(self):
        self.assertEqual(mltrace.get_db_uri(), "http://127.0.0.1:8080")

    def test_mltrace_server_wins(self):
        os.environ["DB_SERVER"] = "dbhost"
        os.environ["DB_URI"] = "http://urihost:9000"
        os.environ["MLTRACE_SERVER"] = "http://main:7000/"
        self.assertEqual(mltrace.get_db_uri(), "http://main:7000")

    def test_db_server_is_a_host_on_port_8080(self):
        os.environ["DB_SERVER"] = "10.1.2.3"
        self.assertEqual(mltrace.get_db_uri(), "http://10.1.2.3:8080")
        os.environ["DB_SERVER"] = "localhost:9999"
        self.assertEqual(mltrace.get_db_uri(), "http://localhost:9999")

    def test_db_uri_only_when_http(self):
        os.environ["DB_SERVER"] = "dbhost"
        os.environ["DB_URI"] = "postgresql://admin:admin@pg:5432/sqlalchemy"
        self.assertEqual(mltrace.get_db_uri(), "http://dbhost:8080")
        os.environ["DB_URI"] = "https://mltrace.example.com"
        self.assertEqual(mltrace.get_db_uri(), "https://mltrace.example.com")

    def test_set_address_keeps_port(self):
        mltrace.set_db_uri("http://127.0.0.1:9123")
        self.assertEqual(mltrace.set_address("localhost"), "http://localhost:9123")
        self.assertEqual(mltrace.get_db_uri(), "http://localhost:9123")
        self.assertEqual(mltrace.get_address(), "http://localhost:9123")
        mltrace.set_address("10.0.0.5:8181")
        self.assertEqual(mltrace.get_db_uri(), "http://10.0.0.5:8181")
        mltrace.set_address("https://secure.example:443/")
        self.assertEqual(mltrace.get_db_uri(), "https://secure.example:443")
        mltrace.set_address("::1")
        self.assertEqual(mltrace.get_db_uri(), "https://[::1]:443")

    def test_set_address_default_port_8080(self):
        mltrace.set_address("pipeline-host")
        self.assertEqual(mltrace.get_db_uri(), "http://pipeline-host:8080")

    def test_set_address_overrides_environment(self):
        os.environ["MLTRACE_SERVER"] = "http://env:1"
        mltrace.set_address("other")
        self.assertEqual(mltrace.get_db_uri(), "http://other:1")

    def test_set_db_uri_maps_old_postgres_uri(self):
        with self.assertLogs("mltrace", level="WARNING"):
            mltrace.set_db_uri("postgresql://admin:admin@dbhost:5432/sqlalchemy")
        self.assertEqual(mltrace.get_db_uri(), "http://dbhost:8080")

    def test_bad_values(self):
        with self.assertRaises(ValueError):
            mltrace.set_db_uri("http://")
        with self.assertRaises(ValueError):
            mltrace.set_address("")
        with self.assertRaises(TypeError):
            mltrace.set_address(None)  # type: ignore[arg-type]


class UnreachableTest(unittest.TestCase):
    def setUp(self):
        _config.reset()
        _http.close()

    def tearDown(self):
        _config.reset()
        _http.close()

    def test_clear_error_naming_the_server(self):
        port = free_port()  # nothing listens there
        mltrace.set_address(f"127.0.0.1:{port}")
        mltrace.set_retries(count=2, backoff=0.01)
        t0 = time.monotonic()
        with self.assertRaises(mltrace.ConnectionError) as cm:
            mltrace.get_recent_run_ids()
        self.assertLess(time.monotonic() - t0, 5)
        msg = str(cm.exception)
        self.assertIn(f"http://127.0.0.1:{port}", msg)
        self.assertIn("cannot reach the mltrace server", msg)
        self.assertEqual(cm.exception.server, f"http://127.0.0.1:{port}")
        # also a built-in ConnectionError / OSError, and an MltraceError
        self.assertIsInstance(cm.exception, ConnectionError)
        self.assertIsInstance(cm.exception, mltrace.MltraceError)

    def test_logging_a_run_to_an_unreachable_server(self):
        mltrace.set_address(f"127.0.0.1:{free_port()}")
        mltrace.set_retries(count=1, backoff=0.01)
        cr = mltrace.ComponentRun("offline")
        cr.set_start_timestamp()
        cr.set_end_timestamp()
        with self.assertRaises(mltrace.ConnectionError):
            mltrace.log_component_run(cr)


class ServerErrorTest(MltraceTestCase):
    def test_not_found_is_a_runtime_error_naming_the_server(self):
        with self.assertRaises(RuntimeError) as cm:
            mltrace.get_component_run_information(10 ** 9)
        e = cm.exception
        self.assertIsInstance(e, mltrace.NotFoundError)
        self.assertEqual(e.status, 404)
        self.assertEqual(e.code, "not_found")
        self.assertIn(self.srv.uri, str(e))

    def test_invalid_argument(self):
        cr = mltrace.ComponentRun("bad\x01name")
        cr.set_start_timestamp()
        cr.set_end_timestamp()
        with self.assertRaises(mltrace.ServerError) as cm:
            mltrace.log_component_run(cr)
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(cm.exception.code, "invalid_argument")

    def test_health(self):
        h = mltrace.health()
        self.assertEqual(h["status"], "ok")


class HttpTransportTest(MltraceTestCase):
    """The HTTP transport itself: a real server in both test modes."""

    def server(self):
        return shared_http_server()

    def test_env_db_server_with_port_reaches_server(self):
        _config.reset()
        os.environ["DB_SERVER"] = f"127.0.0.1:{self.srv.port}"
        self.assertEqual(mltrace.health()["status"], "ok")

    def test_keep_alive_connection_is_reused(self):
        mltrace.health()
        conn = _http._local.conn
        mltrace.get_recent_run_ids()
        self.assertIs(_http._local.conn, conn)


class TokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server(extra_args=["--token", "s3cret-token"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def setUp(self):
        self.saved = os.environ.pop("MLTRACE_TOKEN", None)
        _config.reset()
        _http.close()
        mltrace.set_db_uri(self.srv.url)
        mltrace.set_retries(count=1, backoff=0.01)

    def tearDown(self):
        os.environ.pop("MLTRACE_TOKEN", None)
        if self.saved is not None:
            os.environ["MLTRACE_TOKEN"] = self.saved
        _config.reset()
        _http.close()

    def test_without_token_is_unauthorized(self):
        with self.assertRaises(mltrace.ServerError) as cm:
            mltrace.get_recent_run_ids()
        self.assertEqual(cm.exception.status, 401)

    def test_token_from_environment(self):
        os.environ["MLTRACE_TOKEN"] = "s3cret-token"
        cr = mltrace.ComponentRun("authed")
        cr.set_start_timestamp()
        cr.set_end_timestamp()
        mltrace.log_component_run(cr)
        self.assertIsNotNone(cr.id)
        self.assertIn(cr.id, mltrace.get_recent_run_ids())

    def test_set_token(self):
        mltrace.set_token("s3cret-token")
        self.assertIsInstance(mltrace.get_recent_run_ids(), list)


if __name__ == "__main__":
    unittest.main()
