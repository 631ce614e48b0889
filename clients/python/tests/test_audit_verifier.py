"""The independent verifier (tools/mltrace_audit.py) against a live server:
it must accept every proof the server generates, compute the same roots from
the events' bytes as the server signs, and reject anything changed."""

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.request

from _support import CLIENT_DIR, Server

TOOL = os.path.join(CLIENT_DIR, "tools", "mltrace_audit.py")
_spec = importlib.util.spec_from_file_location("mltrace_audit", TOOL)
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def naive_root(leaves):
    """RFC 6962's MTH, literally."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


class AuditVerifierTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server().start()
        t = "2026-11-20T00:00:00Z"
        for i in range(12):
            run = {"component": "c%d" % (i % 3), "start": t, "end": t, "outputs": ["out-%d.csv" % i]}
            if i:
                run["inputs"] = ["out-%d.csv" % (i - 1)]
            cls.post("/api/v1/runs", run)
        cls.post("/api/v1/audit/head", {})
        cls.post("/api/v1/flag", {"outputs": ["out-3.csv"]})
        cls.size = cls.get("/api/v1/stats")["events"]

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    @classmethod
    def get(cls, path):
        with urllib.request.urlopen(cls.srv.url + path, timeout=30) as r:
            return json.load(r)

    @classmethod
    def post(cls, path, body):
        req = urllib.request.Request(cls.srv.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def test_every_inclusion_proof_checks_and_the_roots_agree_with_a_naive_tree(self):
        self.assertEqual(self.size, 14)
        leaves = []
        for size in range(1, self.size + 1):
            for seq in range(1, size + 1):
                p = self.get("/api/v1/audit/proof/inclusion?seq=%d&size=%d" % (seq, size))
                self.assertEqual(audit.check_evidence(p), [seq])
                if size == self.size:
                    leaves.append(audit.leaf_hash(base64.b64decode(p["event"])))
                    self.assertEqual(leaves[-1], base64.b64decode(p["leaf_hash"]))
            head = self.get("/api/v1/audit/head?as_of=%d" % size)
            audit.check_head(head)
        head = self.get("/api/v1/audit/head")
        self.assertEqual(naive_root(leaves), base64.b64decode(head["root"]))

    def test_every_consistency_proof_checks(self):
        for old in range(0, self.size + 1):
            old_head = self.get("/api/v1/audit/head?as_of=%d" % old)
            for new in range(old, self.size + 1):
                p = self.get("/api/v1/audit/proof/consistency?from=%d&to=%d" % (old, new))
                self.assertEqual(audit.check_consistency(old_head, p), (old, new))

    def test_changed_proofs_heads_and_keys_are_rejected(self):
        p = self.get("/api/v1/audit/proof/inclusion?seq=5")
        event = bytearray(base64.b64decode(p["event"]))
        event[-1] ^= 1
        bad = dict(p, event=base64.b64encode(bytes(event)).decode())
        with self.assertRaises(audit.Mismatch):
            audit.check_evidence(bad)
        head = dict(p["head"], size=p["head"]["size"] - 1)
        with self.assertRaises(audit.Mismatch):
            audit.check_head(head)
        with self.assertRaises(audit.Mismatch):
            audit.check_head(p["head"], key=b"\x01" * 32)
        old = self.get("/api/v1/audit/head?as_of=6")
        c = self.get("/api/v1/audit/proof/consistency?from=6")
        forged = dict(old, root=base64.b64encode(b"\x00" * 32).decode())
        with self.assertRaises(audit.Mismatch):
            audit.check_consistency(forged, c)

    def test_a_run_answer_with_proof_checks(self):
        doc = self.get("/api/v1/runs/4?proof=true")
        self.assertEqual(audit.check_evidence(doc), [doc["seq"]])
        trace = self.get("/api/v1/trace?output=out-5.csv&proof=true")
        self.assertEqual(len(audit.check_evidence(trace)), 6)

    def test_the_command_line_checks_saved_heads_against_the_server(self):
        with tempfile.TemporaryDirectory() as d:
            heads = os.path.join(d, "heads.ndjson")
            with open(heads, "w") as f:
                for size in (3, 9, self.size):
                    f.write(json.dumps(self.get("/api/v1/audit/head?as_of=%d" % size)) + "\n")
            out = subprocess.run([sys.executable, TOOL, "check", heads, "--server", self.srv.url],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("3 saved heads are consistent with the log of %d events" % self.size, out.stdout)
            proof = os.path.join(d, "run.json")
            with open(proof, "w") as f:
                json.dump(self.get("/api/v1/runs/2?proof=true"), f)
            out = subprocess.run([sys.executable, TOOL, "inclusion", proof], capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(heads, "w") as f:
                forged = self.get("/api/v1/audit/head?as_of=3")
                forged["root"] = base64.b64encode(b"\x07" * 32).decode()
                f.write(json.dumps(forged) + "\n")
            out = subprocess.run([sys.executable, TOOL, "check", heads, "--server", self.srv.url],
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 1, out.stdout)


if __name__ == "__main__":
    unittest.main()
