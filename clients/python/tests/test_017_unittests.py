"""Unit tests written the way mltrace 0.17 users (and mltrace's own test suite)
wrote them: ``setUp`` calls ``set_db_uri("test")`` and each test expects an
empty private store, with no server anywhere. They run unchanged in both test
modes: ``"test"`` always means the store embedded in this process.
"""

import os
import shutil
import tempfile
import unittest

import _support  # noqa: F401  (puts the package on sys.path)

from mltrace import (
    Component,
    ComponentRun,
    IOPointer,
    Test,
    backtrace,
    clean_db,
    create_component,
    flag_output_id,
    get_component_information,
    get_component_run_information,
    get_components,
    get_db_uri,
    get_history,
    get_recent_run_ids,
    load,
    log_component_run,
    register,
    review_flagged_outputs,
    save,
    set_db_uri,
    tag_component,
    unflag_all,
)
from mltrace import _batch, _config, _embedded


class Store017Test(unittest.TestCase):
    def setUp(self):
        self._saved = {k: os.environ.pop(k, None)
                       for k in ("MLTRACE_SERVER", "DB_SERVER", "DB_URI", "MLTRACE_DATA_DIR", "SAVE_DIR")}
        self.tmp = tempfile.mkdtemp(prefix="mltrace-017-")
        os.environ["SAVE_DIR"] = os.path.join(self.tmp, "save")
        set_db_uri("test")

    def tearDown(self):
        _batch.reset()
        _embedded.close()
        _config.reset()
        for k, v in self._saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---------------------------------------------------------- the store itself

    def testEachSetUpStartsEmpty(self):
        self.assertEqual(get_db_uri(), "test")
        self.assertEqual(get_recent_run_ids(), [])
        self.assertEqual(get_components(), [])
        create_component("only_here", "", "")
        self.assertEqual([c.name for c in get_components()], ["only_here"])

    def testTestUriIsCaseAndSpaceInsensitive(self):
        for uri in ("TEST", "  Test ", "test\n"):
            self.assertEqual(set_db_uri(uri), "test")
            self.assertEqual(get_components(), [])
            create_component("c", "", "")

    def testCleanDbEmptiesTheTestStore(self):
        create_component("c", "", "")
        clean_db()
        self.assertEqual(get_components(), [])
        set_db_uri("file://" + os.path.join(self.tmp, "data"))
        with self.assertRaises(NotImplementedError):  # a real log is append-only
            clean_db()

    def testThrowawayDirectoryIsRemoved(self):
        create_component("c", "", "")
        path = _embedded.current().path
        self.assertTrue(os.path.isdir(path))
        set_db_uri("test")  # a new store; the old one can never be reached again
        create_component("c", "", "")
        self.assertFalse(os.path.exists(path))

    # ---------------------------------------------------------- components and runs

    def testLogEmptyComponentRun(self):
        create_component("test_component", "test_description", "shreya")
        cr = ComponentRun("test_component")
        with self.assertRaises(RuntimeError):
            log_component_run(cr)
        self.assertEqual(get_recent_run_ids(), [])

    def testLogBasicComponentRun(self):
        create_component("test_component", "test_description", "shreya")
        cr = ComponentRun(component_name="test_component")
        cr.set_start_timestamp()
        cr.code_snapshot = b"def main(): return"
        cr.add_inputs(["duplicate_input", "duplicate_input"])
        cr.add_outputs(["duplicate_output", "duplicate_output"])
        cr.set_end_timestamp()
        log_component_run(cr)

        run = get_component_run_information(cr.id)
        self.assertEqual([i.name for i in run.inputs], ["duplicate_input"])
        self.assertEqual([o.name for o in run.outputs], ["duplicate_output"])
        self.assertEqual(run.code_snapshot, "def main(): return")
        info = get_component_information("test_component")
        self.assertEqual((info.description, info.owner), ("test_description", "shreya"))

    def testLogKVComponentRun(self):
        create_component(name="valtest", description="IOPointer values", owner="me")
        iop1 = IOPointer(name="iop1", value=["this", "is", "the", "first"])
        iop2 = IOPointer(name="iop2", value=["this", "is", "the", "second"])
        cr = ComponentRun("valtest")
        cr.set_start_timestamp()
        cr.set_end_timestamp()
        cr.add_input(iop1)
        cr.add_output(iop2)
        log_component_run(cr)
        self.assertEqual([r.id for _, r in backtrace("iop2")], [cr.id])

    def testTagsAndHistory(self):
        create_component("etl", "", "", tags=["a"])
        tag_component("etl", ["b"])
        self.assertEqual(sorted(get_component_information("etl").tags), ["a", "b"])
        for _ in range(3):
            cr = ComponentRun("etl")
            cr.set_start_timestamp()
            cr.set_end_timestamp()
            log_component_run(cr)
        self.assertEqual(len(get_history("etl")), 3)
        self.assertEqual(len(get_recent_run_ids()), 3)

    # ---------------------------------------------------------- register

    def testRegister(self):
        create_component("test_component", "test_description", "shreya")

        @register(component_name="test_component", input_vars=["foo"], output_vars=["bar"])
        def test_func():
            foo = "foo"  # noqa: F841
            bar = "bar"  # noqa: F841
            return

        test_func()
        run = get_history("test_component")[0]
        self.assertEqual(([i.name for i in run.inputs], [o.name for o in run.outputs]),
                         (["foo"], ["bar"]))

    def testRegisterWrongVarIsARuntimeError(self):
        # 0.17 raised RuntimeError here (ours is also a ValueError, as the contract says)
        create_component("test_component", "test_description", "shreya")

        @register(component_name="test_component", input_vars=["foory"], output_vars=["bar"])
        def test_func():
            foo = 1  # noqa: F841
            bar = 2  # noqa: F841

        with self.assertRaises(RuntimeError):
            test_func()
        with self.assertRaises(ValueError):
            test_func()
        self.assertEqual(get_recent_run_ids(), [])

    def testRegisterKWargsList(self):
        create_component("test_component", "test_description", "shreya")

        @register(component_name="test_component", input_kwargs={"inp_key": "inp_val"},
                  output_kwargs={"out_key": "out_val"})
        def some_func(inp_key, inp_val):
            out_key = ["another_filename1.pkl", "another_filename2.pkl"]  # noqa: F841
            out_val = [1, 2]  # noqa: F841

        some_func(inp_key=["some_filename1.pkl", "some_filename2.pkl"], inp_val=[11, 22])
        run = get_history("test_component")[0]
        self.assertEqual([o.name for o in run.outputs], ["another_filename1.pkl", "another_filename2.pkl"])

    def testEmptyStringVariablesAreSkipped(self):
        # mltrace's example pipelines: a parameter defaulting to "" that names an input
        @register("cleaning", input_vars=["raw", "extra"], output_vars=["clean"])
        def clean(raw="raw.csv", extra=""):
            clean = ["clean.csv", ""]  # noqa: F841

        with self.assertLogs("mltrace", level="DEBUG") as logs:
            clean()
        run = get_history("cleaning")[0]
        self.assertEqual([i.name for i in run.inputs], ["raw.csv"])
        self.assertEqual([o.name for o in run.outputs], ["clean.csv"])
        self.assertTrue(any("empty string" in line for line in logs.output), logs.output)

    def testEmptyStringKwargsAreSkipped(self):
        @register("kw", input_kwargs={"name": "value"}, output_kwargs={"out": "out_value"})
        def step(name="", value=None):
            out = "out.pkl"  # noqa: F841
            out_value = 1  # noqa: F841

        step()
        run = get_history("kw")[0]
        self.assertEqual(([i.name for i in run.inputs], [o.name for o in run.outputs]), ([], ["out.pkl"]))

    def testSetValuedVariablesLogInTheSameOrderInEveryProcess(self):
        # 0.17 logged a set in iteration order, which follows PYTHONHASHSEED
        @register("fanout", output_vars=["parts"])
        def split():
            parts = {"part-c", "part-a", "part-b"}  # noqa: F841

        split()
        cr = ComponentRun("explicit")
        cr.set_start_timestamp()
        cr.add_inputs({"in-z", "in-x", "in-y"})
        cr.set_end_timestamp()
        log_component_run(cr)
        self.assertEqual([o.name for o in get_history("fanout")[0].outputs], ["part-a", "part-b", "part-c"])
        self.assertEqual([i.name for i in get_history("explicit")[0].inputs], ["in-x", "in-y", "in-z"])

    # ---------------------------------------------------------- Component.run and Test

    def testBareRunDecoratorWithBeforeAndAfterTests(self):
        class Before(Test):
            def __init__(self):
                super().__init__("Before")

            def testCorrect(self, n: str):
                if n + "_before" != "test_before":
                    raise Exception("Wrong Value")

        class After(Test):
            def __init__(self):
                super().__init__("After")

            def testCorrect(self, n: str):
                if n != "test_after":
                    raise Exception("Wrong Value")

        c = Component("aditi", "test", "test_description", beforeTests=[Before], afterTests=[After])

        @c.run
        def function(n: str = "test"):
            n += "_after"
            return n

        self.assertEqual(function(), "test_after")
        run = get_component_run_information(get_history("aditi")[0].id)
        self.assertEqual(sorted((t.name, t.passed) for t in run.tests),
                         [("After.testCorrect", True), ("Before.testCorrect", True)])
        info = get_component_information("aditi")
        self.assertEqual((info.owner, info.description), ("test", "test_description"))

    def testFailingBeforeTestLogsNothing(self):
        class NeedsOne(Test):
            def __init__(self):
                super().__init__("NeedsOne")

            def testCorrect(self, n: int):
                if n * 10 != 10:
                    raise Exception("Wrong Value")

        c = Component("failing", "test", "d", beforeTests=[NeedsOne])

        @c.run
        def function(n: int = 2):
            return n

        with self.assertRaises(Exception):
            function()
        self.assertEqual(get_history("failing"), [])

    def testFailingAfterTestIsLoggedThenRaised(self):
        class NeedsK(Test):
            def __init__(self):
                super().__init__("NeedsK")

            def testCorrect(self, k: int):
                if k != 2:
                    raise Exception("Wrong Value")

        c = Component("after", "test", "d", afterTests=[NeedsK])

        @c.run
        def function():
            k = 1  # noqa: F841

        with self.assertRaises(Exception):
            function()
        run = get_component_run_information(get_history("after")[0].id)
        self.assertEqual([(t.name, t.passed) for t in run.tests], [("NeedsK.testCorrect", False)])

    def testSubclassedComponent(self):
        class Cleaning(Component):
            def __init__(self, beforeTests=[], afterTests=[]):
                super().__init__(name="cleaning", owner="plumber", description="cleans",
                                 tags=["etl"], beforeTests=beforeTests, afterTests=afterTests)

        cleaning = Cleaning()  # (`@Cleaning().run(...)` needs Python 3.9)

        @cleaning.run(input_vars=["src"], output_vars=["dst"])
        def clean(src):
            dst = src.replace("raw", "clean")  # noqa: F841

        clean("raw.csv")
        clean("raw.csv")
        self.assertEqual([c.name for c in get_components(tag="etl")], ["cleaning"])
        runs = get_history("cleaning")
        self.assertEqual(len(runs), 2)
        # the second run's input was produced by nobody: no dependencies
        self.assertEqual(runs[0].dependencies, [])

    def testIndustryStylePipelineWithEmptyDefault(self):
        # mltrace 0.17's examples/industry_ml.py, in its input_vars form: training's
        # dev_model defaults to "" and is an input variable
        ingest_c = Component(name="ingest", description="ingests", owner="data_engineer", tags=["example"])
        train_c = Component(name="training", description="trains", owner="data_scientist", tags=["example"])
        infer_c = Component(name="inference", description="infers", owner="ml_engineer", tags=["example"])

        @ingest_c.run(input_vars=["client_data_filename"], output_vars=["ingested_data_filename"])
        def ingest(client_data_filename: str) -> str:
            ingested_data_filename = f"ingested_{client_data_filename}"
            return ingested_data_filename

        @train_c.run(input_vars=["filename", "dev_model"], output_vars=["model_filename"])
        def training(filename: str, dev_model: str = "") -> str:
            model_filename = "prod_model.joblib" if dev_model else "model.joblib"
            return model_filename

        @infer_c.run(input_vars=["filename", "model_path"], output_vars=["output_id"])
        def inference(filename: str, model_path: str) -> str:
            output_id = "prediction-1"
            return output_id

        features = ingest("historical_data.csv")
        dev = training(features)  # dev_model == "": skipped, the run is logged
        prod = training(features, dev)
        inference(ingest("live_data.csv"), prod)

        self.assertEqual([c.name for c in get_components(tag="example")], ["inference", "ingest", "training"])
        trace = [(d, r.component_name) for d, r in backtrace("prediction-1")]
        # pre-order, dependencies by id: the prod training (3) before the live ingest (4);
        # under it the historical ingest (1) and the dev training (2), whose ingest is seen
        self.assertEqual(trace, [(0, "inference"), (1, "training"), (2, "ingest"), (2, "training"),
                                 (1, "ingest")])
        self.assertEqual(len(get_history("training")), 2)

    # ---------------------------------------------------------- save / load, lineage, review

    def testSaveLoadLineage(self):
        @register("train", output_vars=[])
        def train():
            save({"weights": [1, 2, 3]}, os.path.join(self.tmp, "model.pkl"))

        @register("infer", output_vars=["preds"])
        def infer():
            model = load(os.path.join(self.tmp, "model.pkl"))
            preds = os.path.join(self.tmp, "preds.csv")
            self.assertEqual(model["weights"], [1, 2, 3])

        train()
        infer()
        trace = backtrace(os.path.join(self.tmp, "preds.csv"))
        self.assertEqual([(d, r.component_name) for d, r in trace], [(0, "infer"), (1, "train")])

        flag_output_id(os.path.join(self.tmp, "preds.csv"))
        flagged, runs = review_flagged_outputs()
        self.assertEqual(flagged, [os.path.join(self.tmp, "preds.csv")])
        self.assertEqual([(r.component_name, n) for r, n in runs], [("infer", 1), ("train", 1)])
        self.assertEqual(unflag_all(), [os.path.join(self.tmp, "preds.csv")])


if __name__ == "__main__":
    unittest.main()
