"""Done means: the original tutorial's kind of pipeline, written against the
mltrace 0.17 API, runs unchanged against the server (training and inference in
two processes, configured by the old DB_SERVER variable) and shows up in trace,
review, the CLI and the UI. Also runs the two examples."""

import json
import os
import subprocess
import sys
import unittest
import urllib.parse
import urllib.request

from _support import CLIENT_DIR, EMBEDDED, SRC, PrivateServerTestCase, binary

import mltrace

TUTORIAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tutorial")
EXAMPLES = os.path.join(CLIENT_DIR, "examples")


def have(*modules):
    try:
        for m in modules:
            __import__(m)
    except ImportError:
        return False
    return True


class PipelineRunner(PrivateServerTestCase):
    def run_script(self, script, *args, cwd=None, env_server="DB_SERVER"):
        env = {k: v for k, v in os.environ.items()
               if k not in ("MLTRACE_SERVER", "DB_SERVER", "DB_URI", "MLTRACE_DATA_DIR")}
        env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["SAVE_DIR"] = os.path.join(self.tmp, "save")
        # server mode: the old variable DB_SERVER=host:port (or MLTRACE_SERVER);
        # embedded mode: MLTRACE_DATA_DIR, which this process lets go of first.
        env.update(self.srv.env())
        if env_server != "DB_SERVER" and "DB_SERVER" in env:
            env["MLTRACE_SERVER"] = self.srv.url
            del env["DB_SERVER"]
        self.srv.release()
        res = subprocess.run([sys.executable, script, *args], cwd=cwd or self.tmp, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = res.stdout.decode("utf-8", "replace")
        self.assertEqual(res.returncode, 0, f"{script} {' '.join(args)} failed:\n{out}")
        return out


@unittest.skipIf(sys.version_info < (3, 9), "the tutorial's @Cleaning().run decorators need Python 3.9")
class TutorialTest(PipelineRunner):
    def run_tutorial(self, flavor):
        main = os.path.join(TUTORIAL, flavor, "main.py")
        mltrace.unflag_all()
        self.run_script(main, "--mode", "training")
        self.run_script(main, "--mode", "inference")

        info = mltrace.get_component_information("featuregen")
        self.assertEqual((info.owner, info.tags), ("spark-gymnast", ["nyc-taxicab"]))
        self.assertEqual(sorted(c.name for c in mltrace.get_components(tag="nyc-taxicab")),
                         ["cleaning", "featuregen", "inference", "splitting", "training"])

        inf = mltrace.get_component_run_information(mltrace.get_history("inference", limit=1)[0].id)
        self.assertEqual(len(inf.outputs), 1)
        prediction = inf.outputs[0].name
        self.assertTrue(prediction.startswith(os.path.join(self.tmp, "save", "inference")))
        self.assertTrue(os.path.exists(prediction))

        trace = mltrace.backtrace(prediction)
        components = [r.component_name for _, r in trace]
        self.assertEqual(components[0], "inference")
        for c in ("featuregen", "cleaning", "training", "splitting"):
            self.assertIn(c, components)
        self.assertEqual(trace[0][1].id, inf.id)

        # every run carries its test results and code; nothing failed
        train = mltrace.get_component_run_information(mltrace.get_history("training", limit=1)[0].id)
        self.assertEqual([(t.name, t.passed) for t in train.tests],
                         [("ModelIntegrityTest.testOverfitting", True)])
        self.assertIn("def train_model", train.code_snapshot)

        # review: flag the predictions; the training run is among the common runs
        mltrace.flag_output_id(prediction)
        flagged, runs = mltrace.review_flagged_outputs()
        self.assertEqual(flagged, [prediction])
        self.assertIn(train.id, [r.id for r, _ in runs])
        self.assertTrue(all(count == 1 for _, count in runs))

        # the UI: its index, and a deep link to the trace (embedded mode: `mltrace
        # serve` on the directory the pipeline logged into, after this process lets go)
        web = self.srv.serve() if EMBEDDED else self.srv
        try:
            for path in ("/", "/trace/" + urllib.parse.quote(prediction, safe="")):
                with urllib.request.urlopen(web.url + path, timeout=10) as r:
                    self.assertEqual(r.status, 200)
                    self.assertIn("text/html", r.headers.get("Content-Type", ""))
            # the server reads what the pipeline logged in process
            answer = json.loads(urllib.request.urlopen(
                web.url + "/api/v1/trace?output=" + urllib.parse.quote(prediction, safe=""),
                timeout=10).read().decode("utf-8"))
            self.assertEqual(answer["root"], inf.id)
        finally:
            if web is not self.srv:
                web.cleanup()

        return prediction, inf, train

    def test_stdlib_tutorial(self):
        self.run_tutorial("stdlib")

    @unittest.skipUnless(have("pandas", "numpy", "joblib"), "pandas, numpy or joblib is not installed")
    def test_pandas_tutorial(self):
        self.run_tutorial("pandas")

    def test_cli_sees_the_tutorial(self):
        help_text = subprocess.run([binary(), "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=60).stdout.decode("utf-8", "replace")
        if "  trace" not in help_text or "  review" not in help_text:
            self.skipTest("this mltrace binary has no trace/review commands yet")
        prediction, inf, train = self.run_tutorial("stdlib")
        # embedded mode: the CLI reads the data directory beside this process
        env = {**os.environ, **self.srv.env()}
        if not EMBEDDED:
            env["MLTRACE_SERVER"] = self.srv.url
        res = subprocess.run([binary(), "trace", prediction, "--json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr.decode("utf-8", "replace"))
        cli_trace = json.loads(res.stdout.decode("utf-8"))
        self.assertEqual(cli_trace["root"], inf.id)
        res = subprocess.run([binary(), "review"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr.decode("utf-8", "replace"))
        self.assertIn("training", res.stdout.decode("utf-8", "replace"))


class ExamplesTest(PipelineRunner):
    def check_trace(self, workdir, expect_save):
        pred = os.path.join(workdir, "predictions", "trips_2024-01-04.csv")
        trace = mltrace.backtrace(pred)
        got = [(d, r.component_name) for d, r in trace]
        self.assertEqual(got[0], (0, "infer"))
        self.assertEqual(got[1], (1, "train"))
        self.assertEqual(sorted(c for _, c in got), sorted(
            ["infer", "train", "featuregen", "clean", "ingest", "featuregen", "clean", "ingest",
             "featuregen", "clean", "ingest"]))
        model_input = [i for i in trace[0][1].inputs if "model" in i.name]
        self.assertEqual(len(model_input), 1)

    def test_decorator_and_explicit_examples(self):
        out = self.run_script(os.path.join(EXAMPLES, "pipeline_decorators.py"), "--workdir", "deco",
                              env_server="MLTRACE_SERVER")
        self.assertIn("mltrace trace deco/predictions/trips_2024-01-04.csv", out)
        self.check_trace("deco", True)
        self.run_script(os.path.join(EXAMPLES, "pipeline_explicit.py"), "--workdir", "explicit")
        self.check_trace("explicit", False)
        run = mltrace.get_component_run_information(mltrace.get_history("train", limit=1)[0].id)
        self.assertTrue(run.tests[0].passed)
        self.assertEqual(mltrace.get_component_information("clean").owner, "plumber")


if __name__ == "__main__":
    unittest.main()
