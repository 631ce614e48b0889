"""Retries for real: a local TCP proxy that drops connections or loses answers,
and a server that only starts after the first attempt. Never a lost run, never
a duplicate."""

import socket
import threading
import time
import unittest
from typing import List

from _support import MltraceTestCase, Server, free_port, shared_http_server

import mltrace
from mltrace import ComponentRun, _config, _http


def _read_http_message(sock: socket.socket) -> bytes:
    """Reads one HTTP/1.1 message (headers + Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class FaultyProxy:
    """Listens on 127.0.0.1; connection number i is handled by ``modes[i]``
    (then ``forward`` once the list is used up):

    - ``drop``: close at once, without reading the request;
    - ``lose_answer``: pass the request to the server, wait for its answer, and
      close without passing it back (the server did the work; the client saw
      nothing);
    - ``unavailable``: answer 503;
    - ``forward``: a transparent pipe.
    """

    def __init__(self, upstream_port: int, modes: List[str]) -> None:
        self.upstream_port = upstream_port
        self.modes = list(modes)
        self.seen: List[str] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            mode = self.modes.pop(0) if self.modes else "forward"
            self.seen.append(mode)
            threading.Thread(target=self._handle, args=(client, mode), daemon=True).start()

    def _handle(self, client: socket.socket, mode: str) -> None:
        try:
            if mode == "drop":
                client.close()
                return
            if mode == "unavailable":
                _read_http_message(client)
                body = b'{"error":{"code":"unavailable","message":"disk full (test)"}}'
                client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                               b"Connection: close\r\nContent-Length: " + str(len(body)).encode() +
                               b"\r\n\r\n" + body)
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            if mode == "lose_answer":
                upstream.sendall(_read_http_message(client))
                _read_http_message(upstream)  # the server has answered: the work is done
                upstream.close()
                client.close()
                return
            self._pipe(client, upstream)
        except OSError:
            client.close()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        def one_way(src: socket.socket, dst: socket.socket) -> None:
            try:
                while True:
                    chunk = src.recv(65536)
                    if not chunk:
                        break
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        t = threading.Thread(target=one_way, args=(b, a), daemon=True)
        t.start()
        one_way(a, b)
        t.join(5)
        a.close()
        b.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


def new_run(component: str) -> ComponentRun:
    cr = ComponentRun(component)
    cr.set_start_timestamp()
    cr.set_end_timestamp()
    cr.add_output(component + "-out")
    return cr


class RetryTest(MltraceTestCase):
    """Retries are the HTTP transport's: a real server in both test modes."""

    def server(self):
        return shared_http_server()

    def via_proxy(self, modes: List[str]) -> FaultyProxy:
        proxy = FaultyProxy(self.srv.port, modes)
        self.addCleanup(proxy.close)
        mltrace.set_address(f"127.0.0.1:{proxy.port}")
        mltrace.set_retries(count=4, backoff=0.02)
        return proxy

    def count_runs(self, component: str) -> int:
        mltrace.set_db_uri(self.srv.url)
        return len(mltrace.get_history(component, limit=100))

    def test_dropped_connections_are_retried(self):
        proxy = self.via_proxy(["drop", "drop"])
        name = self.uniq("dropped")
        cr = mltrace.log_component_run(new_run(name))
        self.assertIsNotNone(cr.id)
        self.assertEqual(proxy.seen[:3], ["drop", "drop", "forward"])
        self.assertEqual(self.count_runs(name), 1)

    def test_lost_answer_does_not_duplicate_the_run(self):
        proxy = self.via_proxy(["lose_answer", "lose_answer"])
        name = self.uniq("lost-answer")
        cr = mltrace.log_component_run(new_run(name))
        self.assertEqual(proxy.seen[:3], ["lose_answer", "lose_answer", "forward"])
        # the server logged the run at the first attempt; the retries got it back
        self.assertEqual(self.count_runs(name), 1)
        self.assertEqual(mltrace.get_history(name)[0].id, cr.id)

    def test_decorated_run_survives_a_blip(self):
        proxy = self.via_proxy(["lose_answer", "drop"])
        name = self.uniq("decorated-blip")

        @mltrace.register(name, outputs=[name + ".csv"])
        def step():
            return 42

        self.assertEqual(step(), 42)
        self.assertIn("forward", proxy.seen)
        self.assertEqual(self.count_runs(name), 1)

    def test_unavailable_is_retried(self):
        proxy = self.via_proxy(["unavailable"])
        name = self.uniq("unavailable")
        mltrace.log_component_run(new_run(name))
        self.assertEqual(proxy.seen[:2], ["unavailable", "forward"])
        self.assertEqual(self.count_runs(name), 1)

    def test_gives_up_after_the_retries(self):
        proxy = self.via_proxy(["drop"] * 10)
        mltrace.set_retries(count=2, backoff=0.01)
        with self.assertRaises(mltrace.ConnectionError) as cm:
            mltrace.log_component_run(new_run(self.uniq("gave-up")))
        self.assertIn(f"127.0.0.1:{proxy.port}", str(cm.exception))
        self.assertEqual(len(proxy.seen), 3)

    def test_stale_keep_alive_connection_is_replaced(self):
        proxy = self.via_proxy([])
        mltrace.set_retries(count=0)
        mltrace.health()
        # the pooled connection is cut behind the client's back
        conn = _http._local.conn
        conn.sock.shutdown(socket.SHUT_RDWR)
        self.assertEqual(mltrace.health()["status"], "ok")
        self.assertGreaterEqual(len(proxy.seen), 2)


class LateServerTest(unittest.TestCase):
    """The server comes up only after the client's first attempt failed."""

    def setUp(self):
        _config.reset()
        _http.close()

    def tearDown(self):
        _config.reset()
        _http.close()

    def test_run_logged_once_server_is_up(self):
        port = free_port()
        srv = Server(port=port)
        self.addCleanup(srv.cleanup)
        mltrace.set_address(f"127.0.0.1:{port}")
        mltrace.set_retries(count=10, backoff=0.2)
        starter = threading.Timer(0.5, srv.start)
        starter.start()
        self.addCleanup(starter.cancel)
        t0 = time.monotonic()
        cr = mltrace.log_component_run(new_run("late-server"))
        self.assertGreater(time.monotonic() - t0, 0.4)
        self.assertEqual(cr.id, 1)
        starter.join()
        self.assertEqual(mltrace.get_recent_run_ids(), [1])


if __name__ == "__main__":
    unittest.main()
