"""Read-your-writes: after a write, reads carry ``min_seq`` (the seq the write's
answer named in its ``Mltrace-Seq`` header), so that any node of a cluster
answers them only once it has applied the write."""

import unittest

from _support import Server

import mltrace
from mltrace import _config, _http
from mltrace.errors import ServerError


class MinSeqTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        _config.reset()
        mltrace.set_address(self.server.url)

    def tearDown(self):
        _http.close()
        _http._last_write_seq.clear()
        _config.reset()
        self.server.cleanup()

    def test_a_write_sets_the_seq_that_reads_wait_for(self):
        answer = _http.post("/api/v1/runs", {
            "component": "ingest", "start": "2026-11-26T03:00:00Z", "end": "2026-11-26T03:00:01Z",
            "outputs": ["raw.csv"],
        })
        seq = answer["runs"][0]["seq"] if "runs" in answer else answer["seq"]
        self.assertEqual(_http._last_write_seq[self.server.url], seq)
        # The read carries min_seq=seq, which this server has applied.
        self.assertEqual(_http.get("/api/v1/runs")["runs"][0]["seq"], seq)

    def test_reads_wait_for_a_seq_the_server_has_not_applied(self):
        # As if this process had written to another node that this one has not caught up with.
        _http._last_write_seq[self.server.url] = 10**9
        _config.set_retries(count=0)
        with self.assertRaises(ServerError) as caught:
            _http.get("/api/v1/runs")
        self.assertEqual(caught.exception.status, 503)
        self.assertEqual(caught.exception.field, "min_seq")


if __name__ == "__main__":
    unittest.main()
