"""Batching mode: runs queued and logged in batches by a background thread,
flushed by ``flush()``, by any other request, and at exit. Runs against the
store of the test mode (server or embedded)."""

import os
import subprocess
import sys
import textwrap

from _support import SRC, MltraceTestCase

import mltrace
from mltrace import ComponentRun, register


def queued_run(component, inputs=(), outputs=()):
    cr = ComponentRun(component)
    cr.set_start_timestamp()
    cr.add_inputs(list(inputs))
    cr.add_outputs(list(outputs))
    cr.set_end_timestamp()
    return mltrace.log_component_run(cr)


class BatchingTest(MltraceTestCase):
    def test_runs_are_logged_in_order_with_their_lineage(self):
        mltrace.set_batching(True, max_batch=50)
        name = self.uniq("chain")
        runs = [queued_run(name, inputs=[f"{name}-{i}"], outputs=[f"{name}-{i + 1}"]) for i in range(300)]
        mltrace.flush()
        ids = [r.id for r in runs]
        self.assertTrue(all(isinstance(i, int) for i in ids))
        self.assertEqual(ids, sorted(ids))
        for before, after in zip(runs, runs[1:]):
            self.assertEqual(after.dependencies, [before.id])
        trace = mltrace.backtrace(f"{name}-300")
        self.assertEqual(len(trace), 300)

    def test_any_other_request_sees_the_queued_runs(self):
        mltrace.set_batching(True)
        name = self.uniq("seen")

        @register(name, output_vars=["out"])
        def step(i):
            out = f"{name}-out-{i}"  # noqa: F841

        for i in range(20):
            step(i)
        # no flush: the query waits for the queue first
        self.assertEqual(len(mltrace.get_history(name, limit=None)), 20)

    def test_a_bad_run_fails_alone(self):
        mltrace.set_batching(True, max_batch=100)
        name = self.uniq("mixed")
        good = [queued_run(name, outputs=[f"{name}-{i}"]) for i in range(5)]
        bad = ComponentRun(name)
        bad.set_start_timestamp()
        bad.set_end_timestamp()
        bad.set_upstream(self.uniq("no-such-component"))
        with self.assertLogs("mltrace", level="ERROR") as logs:
            mltrace.log_component_run(bad)
            good += [queued_run(name, outputs=[f"{name}-{i}"]) for i in range(5, 10)]
            with self.assertRaises(mltrace.BatchError) as cm:
                mltrace.flush()
        self.assertIn("upstream[0]", logs.output[0])
        self.assertEqual([r for r, _ in cm.exception.failures], [bad])
        self.assertIsInstance(cm.exception.failures[0][1], mltrace.ServerError)
        self.assertIsNone(bad.id)
        self.assertTrue(all(r.id is not None for r in good))
        self.assertEqual(len(mltrace.get_history(name, limit=None)), 10)
        mltrace.flush()  # reported once

    def test_turning_it_off_flushes(self):
        mltrace.set_batching(True)
        name = self.uniq("off")
        run = queued_run(name, outputs=[name])
        mltrace.set_batching(False)
        self.assertIsNotNone(run.id)
        self.assertIsNotNone(queued_run(name).id)  # logged at once again

    def test_queued_runs_are_flushed_at_exit(self):
        name = self.uniq("exit")
        script = textwrap.dedent(f"""
            import mltrace
            from mltrace import ComponentRun
            mltrace.set_db_uri({self.srv.uri!r})
            for i in range(200):
                cr = ComponentRun({name!r})
                cr.set_start_timestamp()
                cr.set_end_timestamp()
                mltrace.log_component_run(cr)
        """)
        env = {k: v for k, v in os.environ.items() if k not in ("MLTRACE_SERVER", "DB_SERVER")}
        env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
        env["MLTRACE_BATCH"] = "1"
        self.srv.release()
        res = subprocess.run([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(res.returncode, 0, res.stdout.decode("utf-8", "replace"))
        self.assertEqual(len(mltrace.get_history(name, limit=None)), 200)
