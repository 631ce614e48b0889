"""The store embedded in the Python process: a data directory that the server
and the CLI read later, the lock rules between processes, the environment, the
``mltrace`` command that comes with the package, and what a bad URI does."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import unittest
import urllib.request

from _support import SRC, Server, binary, free_port

import mltrace
from mltrace import ComponentRun, _batch, _config, _embedded


def log_run(component, inputs=(), outputs=()):
    cr = ComponentRun(component)
    cr.set_start_timestamp()
    cr.add_inputs(list(inputs))
    cr.add_outputs(list(outputs))
    cr.set_end_timestamp()
    return mltrace.log_component_run(cr)


def child_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLTRACE_SERVER", "DB_SERVER", "DB_URI", "MLTRACE_DATA_DIR")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


# The console script `pip install` puts beside this interpreter.
SCRIPT = os.path.join(sysconfig.get_path("scripts"), "mltrace")


def _log_in_child():
    try:
        log_run("child", outputs=["c"])
        return "logged"
    except Exception as e:
        return f"{type(e).__name__}: {e}"


class DataDirectoryTest(unittest.TestCase):
    def setUp(self):
        self._saved = {k: os.environ.pop(k, None)
                       for k in ("MLTRACE_SERVER", "DB_SERVER", "DB_URI", "MLTRACE_DATA_DIR")}
        _config.reset()
        self.tmp = tempfile.mkdtemp(prefix="mltrace-embedded-")
        self.dir = os.path.join(self.tmp, "data")

    def tearDown(self):
        _batch.reset()
        _embedded.close()
        _config.reset()
        for k, v in self._saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_file_uri_then_server_and_cli_read_the_same_directory(self):
        self.assertEqual(mltrace.set_db_uri("file://" + self.dir), "file://" + self.dir)
        first = log_run("ingest", outputs=["raw.csv"])
        second = log_run("clean", inputs=["raw.csv"], outputs=["clean.csv"])
        self.assertEqual(second.dependencies, [first.id])
        mltrace.close()  # the directory is free: a server may open it

        srv = Server(data_dir=self.dir).start()
        try:
            with urllib.request.urlopen(srv.url + "/api/v1/trace?output=clean.csv", timeout=10) as r:
                trace = json.loads(r.read().decode("utf-8"))
            self.assertEqual([n["run"]["component"] for n in trace["nodes"]], ["clean", "ingest"])
        finally:
            srv.cleanup()

        res = subprocess.run([binary(), "--data-dir", self.dir, "history", "clean", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr.decode("utf-8", "replace"))
        self.assertIn('"clean.csv"', res.stdout.decode("utf-8"))

        # and this process opens it again, where it left off
        self.assertEqual(log_run("clean", inputs=["raw.csv"]).id, second.id + 1)

    def test_mltrace_data_dir_environment(self):
        os.environ["MLTRACE_DATA_DIR"] = self.dir
        self.assertEqual(mltrace.get_db_uri(), "file://" + self.dir)
        log_run("env", outputs=["x"])
        self.assertEqual(_embedded.open_path(), self.dir)
        # MLTRACE_SERVER wins, as for the CLI
        os.environ["MLTRACE_SERVER"] = "http://127.0.0.1:1"
        self.assertEqual(mltrace.get_db_uri(), "http://127.0.0.1:1")

    def test_a_second_writer_process_is_told_who_holds_the_directory(self):
        mltrace.set_db_uri("file://" + self.dir)
        log_run("holder", outputs=["held"])
        script = textwrap.dedent(f"""
            import mltrace
            mltrace.set_db_uri({('file://' + self.dir)!r})
            try:
                mltrace.create_component("intruder", "", "")
            except mltrace.ConnectionError as e:
                print("REFUSED", e)
        """)
        res = subprocess.run([sys.executable, "-c", script], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = res.stdout.decode("utf-8", "replace")
        self.assertIn("REFUSED", out)
        self.assertIn("in use by another writer", out)
        self.assertIn(f"pid {os.getpid()}", out)
        # the refused process changed nothing
        self.assertEqual([c.name for c in mltrace.get_components()], ["holder"])
        # readers may open beside the writer
        res = subprocess.run([binary(), "--data-dir", self.dir, "recent", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr.decode("utf-8", "replace"))

    def test_a_server_holding_the_directory_is_named(self):
        srv = Server(data_dir=self.dir).start()
        try:
            mltrace.set_db_uri("file://" + self.dir)
            with self.assertRaises(mltrace.ConnectionError) as cm:
                mltrace.get_components()
            self.assertIn(f"serving {srv.url}", str(cm.exception))
        finally:
            srv.cleanup()

    def test_children_log_into_the_directory_one_after_the_other(self):
        script = textwrap.dedent("""
            import sys, mltrace
            from mltrace import register

            @register("step", input_vars=["src"], output_vars=["dst"])
            def step(src, dst):
                pass

            step(sys.argv[1], sys.argv[2])
        """)
        env = child_env(MLTRACE_DATA_DIR=self.dir)
        for src, dst in (("a", "b"), ("b", "c")):
            res = subprocess.run([sys.executable, "-c", script, src, dst], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(res.returncode, 0, res.stdout.decode("utf-8", "replace"))
        mltrace.set_db_uri("file://" + self.dir)
        self.assertEqual([(d, r.id) for d, r in mltrace.backtrace("c")], [(0, 2), (1, 1)])

    @unittest.skipUnless(hasattr(os, "fork"), "needs fork")
    def test_a_forked_child_never_writes_the_parents_store(self):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        for uri in ("file://" + self.dir, "test"):
            mltrace.set_db_uri(uri)
            first = log_run("parent", outputs=["p"])
            path = _embedded.current().path
            with ctx.Pool(1) as pool:
                answer = pool.apply(_log_in_child)
            self.assertTrue(answer.startswith("ConnectionError"), answer)
            self.assertIn(f"pid {os.getpid()}", answer)
            # the parent goes on, its store intact (a throwaway directory still there)
            self.assertTrue(os.path.isdir(path))
            self.assertEqual(log_run("parent", inputs=["p"]).dependencies, [first.id])
            self.assertEqual([c.name for c in mltrace.get_components()], ["parent"])

    def test_bad_uris(self):
        for uri in ("file://otherhost/data", "file://", "file:///x?colour=red"):
            with self.assertRaises(ValueError, msg=uri):
                mltrace.set_db_uri(uri)
        with self.assertRaises(ValueError):
            mltrace.set_db_uri("file:///" + self.dir + "?fsync=sometimes")
            mltrace.get_components()

    def test_the_durability_answer(self):
        mltrace.set_db_uri("file://" + self.dir + "?fsync=never")
        log_run("durable", outputs=["d"])
        mltrace.flush()  # fsynced whatever the policy
        self.assertEqual(len(mltrace.get_history("durable")), 1)


class CommandTest(unittest.TestCase):
    """The ``mltrace`` command installed with the package: the real CLI."""

    def command(self):
        # the console script when installed; the same entry point otherwise
        return [sys.executable, "-c", "import sys; from mltrace._cli import main; main()"]

    def test_launch_starts_the_server_with_the_ui(self):
        tmp = tempfile.mkdtemp(prefix="mltrace-launch-")
        self.addCleanup(shutil.rmtree, tmp, True)
        port = free_port()
        proc = subprocess.Popen(self.command() + ["launch", "--addr", f"127.0.0.1:{port}",
                                                  "--data-dir", os.path.join(tmp, "data")],
                                env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.terminate)
        body = b""
        deadline = time.monotonic() + 60  # a loaded machine starts slowly
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    body = r.read()
                    self.assertIn("text/html", r.headers.get("Content-Type", ""))
                    break
            except OSError:
                if proc.poll() is not None:
                    self.fail(proc.stderr.read().decode("utf-8", "replace"))
                time.sleep(0.05)
        self.assertIn(b"<html", body.lower())

    def test_exit_codes_and_bad_usage(self):
        res = subprocess.run(self.command() + ["recent", "--limit", "x"], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 2)
        err = res.stderr.decode("utf-8", "replace").strip()
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("--limit", err)
        res = subprocess.run(self.command() + ["--version"], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0)
        self.assertTrue(res.stdout.decode().startswith("mltrace "))

    @unittest.skipUnless(os.path.exists(SCRIPT), "the package is not installed for this Python")
    def test_console_script_is_installed(self):
        res = subprocess.run([SCRIPT, "serve", "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("--data-dir", res.stdout.decode("utf-8", "replace"))


if __name__ == "__main__":
    unittest.main()
