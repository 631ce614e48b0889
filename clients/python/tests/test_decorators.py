"""The decorators: Component.run and register, argument binding, I/O options,
captured code, git and times."""

import json
import os
import shutil
import subprocess
import unittest
from datetime import timedelta, timezone

from _support import MltraceTestCase, chdir

import mltrace
from mltrace import Component, PointerTypeEnum, register
from mltrace import component as _component


def last_run(component):
    runs = mltrace.get_history(component, limit=1)
    return mltrace.get_component_run_information(runs[0].id) if runs else None


class DecoratorTest(MltraceTestCase):
    def test_input_vars_output_vars(self):
        name = self.uniq("clean")
        c = Component(name, "plumber", "Cleans raw data")

        @c.run(input_vars=["src"], output_vars=["dst"])
        def clean(src, suffix="_clean"):
            dst = src.replace(".csv", suffix + ".csv")
            return dst

        out = clean("raw.csv")
        self.assertEqual(out, "raw_clean.csv")
        run = last_run(name)
        self.assertEqual([p.name for p in run.inputs], ["raw.csv"])
        self.assertEqual([p.name for p in run.outputs], ["raw_clean.csv"])
        self.assertEqual(run.start_timestamp.tzinfo, timezone.utc)
        self.assertLessEqual(run.start_timestamp, run.end_timestamp)
        self.assertIn("def clean(src", run.code_snapshot)

    def test_lists_none_and_static_io(self):
        name = self.uniq("multi")

        @register(name, inputs=["static_in.csv"], outputs=["static_out.csv"],
                  input_vars=["paths", "nothing"], output_vars=["outs"])
        def multi(paths):
            nothing = None
            outs = [p + ".out" for p in paths] + [None]
            return len(outs)

        self.assertEqual(multi(["a", "b"]), 3)
        run = last_run(name)
        self.assertEqual([p.name for p in run.inputs], ["static_in.csv", "a", "b"])
        self.assertEqual([p.name for p in run.outputs], ["static_out.csv", "a.out", "b.out"])

    def test_missing_local_is_value_error_and_logs_nothing(self):
        name = self.uniq("missing")

        @register(name, input_vars=["not_there"])
        def f():
            return 1

        with self.assertRaises(ValueError):
            f()
        with self.assertRaises(mltrace.NotFoundError):
            mltrace.get_component_information(name)

    def test_function_exception_logs_nothing(self):
        name = self.uniq("boom")

        @register(name, outputs=["x"])
        def f():
            raise KeyError("nope")

        with self.assertRaises(KeyError):
            f()
        with self.assertRaises(RuntimeError):
            mltrace.get_component_information(name)

    def test_input_kwargs_output_kwargs_carry_hashes(self):
        producer, consumer = self.uniq("produce"), self.uniq("consume")
        key = self.uniq("table")

        @register(producer, output_kwargs={"out_name": "payload"})
        def produce(version):
            out_name = key
            payload = {"rows": [1, 2, 3], "version": version}
            return payload

        @register(consumer, input_kwargs={"in_name": "payload"})
        def consume(payload):
            in_name = key
            return len(payload["rows"])

        p1 = produce(1)
        produce(2)
        consume(p1)  # the first version: versioned lineage picks the first run
        run = last_run(consumer)
        self.assertTrue(run.inputs[0].hash.startswith("sha256:"))
        first = mltrace.get_history(producer, limit=10)[-1]
        self.assertEqual(run.dependencies, [first.id])

    def test_kwargs_lists_must_pair(self):
        name = self.uniq("pairs")

        @register(name, output_kwargs={"names": "values"})
        def f():
            names = ["a", "b"]
            values = [1]
            return None

        with self.assertRaises(ValueError):
            f()

    def test_endpoint(self):
        name = self.uniq("serve")

        @register(name, input_vars=["req"], output_vars=["resp_id"], endpoint=True)
        def serve(req):
            resp_id = "resp-" + req
            return resp_id

        serve(self.uniq("req"))
        run = last_run(name)
        self.assertEqual(run.outputs[0].pointer_type, PointerTypeEnum.ENDPOINT)
        self.assertNotEqual(run.inputs[0].pointer_type, PointerTypeEnum.ENDPOINT)

    def test_staleness_threshold_argument(self):
        a, b = self.uniq("a"), self.uniq("b")
        f = self.uniq("f")

        @register(a, outputs=[f])
        def first():
            pass

        @register(b, inputs=[f], staleness_threshold=0)
        def second():
            pass

        first()
        import time
        time.sleep(0.05)
        second()
        run = last_run(b)
        self.assertEqual(len(run.stale), 1)
        self.assertIn("was run 0 days ago", run.stale[0])

    def test_dependencies_between_decorated_functions(self):
        a, b = self.uniq("ingest"), self.uniq("train")
        path = self.uniq("data") + ".csv"

        @register(a, output_vars=["out"])
        def ingest():
            out = path
            return out

        @register(b, input_vars=["inp"], output_vars=["model"])
        def train(inp):
            model = inp + ".model.pkl"
            return model

        m = train(ingest())
        trace = mltrace.backtrace(m)
        self.assertEqual([(d, r.component_name) for d, r in trace], [(0, b), (1, a)])

    def test_decorator_without_parentheses_and_wraps(self):
        name = self.uniq("bare")
        c = Component(name)

        @c.run
        def documented(x):
            """Docs stay."""
            return x + 1

        self.assertEqual(documented(1), 2)
        self.assertEqual(documented.__name__, "documented")
        self.assertEqual(documented.__doc__, "Docs stay.")
        self.assertIsNotNone(last_run(name))

    def test_register_without_arguments_uses_function_name(self):
        @register
        def a_function_named_like_this():
            return 5

        self.assertEqual(a_function_named_like_this(), 5)
        self.assertIsNotNone(last_run("a_function_named_like_this"))

    def test_methods_and_keyword_arguments(self):
        name = self.uniq("method")
        c = Component(name)

        class Pipeline:
            prefix = "p-"

            @c.run(input_vars=["inp"], output_vars=["out"])
            def step(self, inp, *, scale=2, **extra):
                out = self.prefix + inp * scale + extra.get("tail", "")
                return out

        self.assertEqual(Pipeline().step("x", scale=3, tail="!"), "p-xxx!")
        run = last_run(name)
        self.assertEqual([p.name for p in run.outputs], ["p-xxx!"])

    def test_component_metadata_registered_once(self):
        name = self.uniq("featuregen")

        class Featuregen(Component):
            def __init__(self, beforeTests=[], afterTests=[]):
                super().__init__(
                    name=name,
                    owner="spark-gymnast",
                    description="Generates features",
                    tags=["nyc-taxicab", "etl"],
                    beforeTests=beforeTests,
                    afterTests=afterTests,
                )

        _comp = Featuregen()

        @_comp.run(outputs=["feat.pq"])
        def gen():
            return 1

        gen()
        gen()
        _component.clear_registration_cache()  # as a new process would start
        gen()
        info = mltrace.get_component_information(name)
        self.assertEqual(info.owner, "spark-gymnast")
        self.assertEqual(info.description, "Generates features")
        self.assertEqual(sorted(info.tags), ["etl", "nyc-taxicab"])
        self.assertEqual(info.run_count, 3)
        # registered once: repeated runs (even from a new process) add no registration events
        raw = self.srv.fetch("/api/v1/events?after=0")
        events = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
        registered = [e for e in events if e["type"] == "component_registered"
                      and e["component"]["name"] == name]
        self.assertEqual(len(registered), 1)
        self.assertIn(name, [c.name for c in mltrace.get_components(tag="nyc-taxicab")])

    def test_contract_positional_order(self):
        c = Component("n", "o", "d", ["tag1"], [], [])
        self.assertEqual(c.tags, ["tag1"])
        self.assertEqual(c.afterTests, [])

        class T(mltrace.Test):
            pass

        c2 = Component("n", "o", "d", [T], [], ["tag2"])  # mltrace 0.17 order
        self.assertEqual(c2.beforeTests, [T])
        self.assertEqual(c2.tags, ["tag2"])

    def test_non_ascii_source_code(self):
        name = self.uniq("ünïcode")

        @register(name, outputs=["résultat.csv"])
        def calcule_données(x="données"):
            # Ĉi tiu funkcio uzas ne-ASCII signojn: 数据, emoji 🚀, ß
            résultat = x + " ✓"
            return résultat

        self.assertEqual(calcule_données(), "données ✓")
        run = last_run(name)
        self.assertIn("数据, emoji 🚀, ß", run.code_snapshot)
        self.assertIn("def calcule_données", run.code_snapshot)
        self.assertEqual(run.outputs[0].name, "résultat.csv")

    @unittest.skipUnless(shutil.which("git"), "git is not installed")
    def test_git_hash_and_tags_captured(self):
        repo = os.path.join(self.tmp, "repo")
        os.makedirs(repo)
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}

        def git(*args):
            return subprocess.run(["git", *args], cwd=repo, env=env, check=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode().strip()

        git("init", "-q")
        with open(os.path.join(repo, "f.txt"), "w") as fh:
            fh.write("x")
        git("add", "f.txt")
        git("commit", "-q", "-m", "init")
        git("tag", "v1.2")
        git("tag", "-a", "release-1", "-m", "annotated")
        head = git("rev-parse", "HEAD")
        name = self.uniq("gitted")

        @register(name)
        def f():
            return 1

        with chdir(repo):
            f()
            self.assertEqual(mltrace.get_git_hash(), head)
            self.assertEqual(sorted(mltrace.get_git_tags()), ["release-1", "v1.2"])
            git("pack-refs", "--all")
            self.assertEqual(mltrace.get_git_hash(), head)
        run = last_run(name)
        self.assertEqual(run.git_hash, head)
        self.assertEqual(sorted(run.git_tags), ["release-1", "v1.2"])

        # the capture is cached per process, but a commit, a new tag or a checkout shows
        with chdir(repo):
            with open(os.path.join(repo, "f.txt"), "a") as fh:
                fh.write("more\n")
            git("commit", "-q", "-am", "second")
            second = git("rev-parse", "HEAD")
            f()
            self.assertEqual((last_run(name).git_hash, last_run(name).git_tags), (second, []))
            git("tag", "v2")
            f()
            self.assertEqual((last_run(name).git_hash, last_run(name).git_tags), (second, ["v2"]))
            git("checkout", "-q", "v1.2")
            f()
            self.assertEqual(last_run(name).git_hash, head)
            self.assertEqual(sorted(last_run(name).git_tags), ["release-1", "v1.2"])

    def test_outside_a_repository(self):
        with chdir(self.tmp):
            self.assertIsNone(mltrace.get_git_hash())
            self.assertEqual(mltrace.get_git_tags(), [])

    def test_threads_log_independently(self):
        import threading
        name = self.uniq("threaded")

        @register(name, input_vars=["i"], output_vars=["out"])
        def work(i):
            out = f"{name}-out-{i}"
            return out

        errors = []

        def many(base):
            try:
                for k in range(5):
                    self.assertEqual(work(base + k), f"{name}-out-{base + k}")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=many, args=(b * 100,)) for b in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        runs = mltrace.get_history(name, limit=100)
        self.assertEqual(len(runs), 20)
        self.assertEqual(sorted(r.inputs[0].name for r in runs),
                         sorted(str(b * 100 + k) for b in range(4) for k in range(5)))

    def test_times_bracket_the_call(self):
        import time as _t
        name = self.uniq("timed")

        @register(name)
        def slow():
            _t.sleep(0.3)

        slow()
        run = last_run(name)
        self.assertGreaterEqual(run.end_timestamp - run.start_timestamp, timedelta(milliseconds=290))


if __name__ == "__main__":
    unittest.main()
