"""auto_log, SAVE_DIR, save() and load()."""

import os
import pickle
import unittest

from _support import MltraceTestCase

import mltrace
from mltrace import Component, register

try:
    import pandas as pd  # type: ignore
except ImportError:  # pragma: no cover - depends on the machine
    pd = None
try:
    import numpy as np  # type: ignore
except ImportError:  # pragma: no cover
    np = None


def full(run_id):
    return mltrace.get_component_run_information(run_id)


def last(component):
    return full(mltrace.get_history(component, limit=1)[0].id)


def saved_files(root):
    out = []
    for d, _dirs, files in os.walk(root):
        if ".index" in d.split(os.sep):
            continue
        out.extend(os.path.join(d, f) for f in files)
    return sorted(out)


class AutoLogTest(MltraceTestCase):
    def test_names_with_data_or_model_are_saved_and_logged(self):
        name = self.uniq("Auto Clean")
        save_dir = os.environ["SAVE_DIR"]

        @register(name, auto_log=True)
        def clean(raw_data, factor=2, verbose=False):
            cleaned_data = [x * factor for x in raw_data if x is not None]
            count = len(cleaned_data)  # not data-like: not logged
            return cleaned_data

        result = clean([1, None, 3])
        self.assertEqual(result, [2, 6])
        run = last(name)
        self.assertEqual(len(run.inputs), 1)
        self.assertEqual(len(run.outputs), 1)
        inp, out = run.inputs[0], run.outputs[0]
        self.assertTrue(inp.name.startswith(save_dir))
        self.assertTrue(out.name.startswith(os.path.join(save_dir, name.lower().replace(" ", "_"))))
        self.assertIn("raw_data", os.path.basename(inp.name))
        self.assertIn("cleaned_data", os.path.basename(out.name))
        self.assertTrue(inp.hash.startswith("sha256:") and out.hash.startswith("sha256:"))
        self.assertEqual(mltrace.load(out.name), [2, 6])
        self.assertEqual(len(saved_files(save_dir)), 2)

    def test_equal_value_links_to_earlier_output(self):
        a, b = self.uniq("producer"), self.uniq("consumer")
        save_dir = os.environ["SAVE_DIR"]

        @register(a, auto_log=True)
        def produce():
            table_data = {"rows": list(range(50))}
            return table_data

        @register(b, auto_log=True)
        def consume(input_data):
            summary_data = sum(input_data["rows"])
            return summary_data

        data = produce()
        n_files = len(saved_files(save_dir))
        self.assertEqual(consume(data), sum(range(50)))
        # the input was not saved again: only the consumer's output is new
        self.assertEqual(len(saved_files(save_dir)), n_files + 1)
        prun, crun = last(a), last(b)
        self.assertEqual(crun.inputs[0].name, prun.outputs[0].name)
        self.assertEqual(crun.inputs[0].hash, prun.outputs[0].hash)
        self.assertEqual(crun.dependencies, [prun.id])
        self.assertEqual([r.component_name for _, r in mltrace.backtrace(crun.outputs[0].name)], [b, a])

    def test_input_hashed_before_the_function_mutates_it(self):
        a, b = self.uniq("make"), self.uniq("mutate")

        @register(a, auto_log=True)
        def make():
            base_data = [1, 2, 3]
            return base_data

        @register(b, auto_log=True)
        def mutate(base_data):
            base_data.append(4)
            return None

        d = make()
        mutate(d)
        self.assertEqual(last(b).dependencies, [last(a).id])

    def test_large_values_are_logged(self):
        name = self.uniq("big")

        @register(name, auto_log=True)
        def f(blob):
            small = "x"
            big = b"y" * 1_200_000
            return len(big)

        f(b"z" * 1_100_000)
        run = last(name)
        self.assertEqual(len(run.inputs), 1)
        self.assertIn("blob", os.path.basename(run.inputs[0].name))
        self.assertEqual(len(run.outputs), 1)
        self.assertIn("big", os.path.basename(run.outputs[0].name))

    def test_nothing_logged_without_auto_log(self):
        name = self.uniq("plain")

        @register(name)
        def f(model_data):
            model = "m"
            return model

        f([1])
        run = last(name)
        self.assertEqual((run.inputs, run.outputs), ([], []))
        self.assertEqual(saved_files(os.environ["SAVE_DIR"]), [])

    def test_returned_large_value_is_an_output(self):
        name = self.uniq("ret")

        @register(name, auto_log=True)
        def f():
            return b"r" * 1_100_000

        f()
        self.assertEqual(len(last(name).outputs), 1)

    def test_save_and_load_inside_decorated_functions(self):
        a, b = self.uniq("saver"), self.uniq("loader")
        target = os.path.join(self.tmp, "explicit", "weights.pkl")

        _comp = Component(a)

        @_comp.run
        def train():
            p1 = mltrace.save({"w": [0.5, 0.25]})
            p2 = mltrace.save({"w": [1.0]}, target)
            return p1, p2

        _comp = Component(b)

        @_comp.run
        def infer(path):
            weights = mltrace.load(path)
            return weights["w"][0]

        p1, p2 = train()
        self.assertTrue(p1.startswith(os.environ["SAVE_DIR"]) and p1.endswith(".mlt"))
        self.assertEqual(p2, target)
        self.assertEqual(infer(p2), 1.0)
        trun, irun = last(a), last(b)
        self.assertEqual([o.name for o in trun.outputs], [p1, p2])
        self.assertEqual(irun.inputs[0].name, p2)
        self.assertEqual(irun.inputs[0].hash, trun.outputs[1].hash)
        self.assertEqual(irun.dependencies, [trun.id])

    def test_save_and_load_outside_a_run(self):
        p = mltrace.save([1, 2, 3])
        self.assertTrue(os.path.exists(p))
        self.assertEqual(mltrace.load(p), [1, 2, 3])
        kw = mltrace.save("keyword", path=os.path.join(self.tmp, "kw.pkl"))
        self.assertEqual(mltrace.load(path=kw), "keyword")
        other = os.path.join(self.tmp, "plain.pkl")
        with open(other, "wb") as f:
            pickle.dump({"a": 1}, f)
        self.assertEqual(mltrace.load(other), {"a": 1})

    def test_save_dir_default_is_home(self):
        from mltrace import _artifacts
        del os.environ["SAVE_DIR"]
        self.assertEqual(_artifacts.save_dir(), os.path.join(os.path.expanduser("~"), ".mltrace"))

    @unittest.skipIf(pd is None, "pandas is not installed")
    def test_dataframes_are_logged(self):
        a, b = self.uniq("pd-clean"), self.uniq("pd-feat")

        _comp = Component(a)

        @_comp.run(auto_log=True)
        def clean(df):
            clean_df = df[df.fare > 5].reset_index(drop=True)
            return clean_df

        _comp = Component(b)

        @_comp.run(auto_log=True)
        def features(frame, tip_fraction=0.1):
            feats = frame.assign(high=frame.tip / frame.fare > tip_fraction)
            return feats

        raw = pd.DataFrame({"fare": [3.0, 10.0, 20.0], "tip": [1.0, 2.0, 1.0]})
        features(clean(raw))
        crun, frun = last(a), last(b)
        self.assertEqual(len(crun.inputs), 1)
        self.assertEqual(len(crun.outputs), 1)
        self.assertEqual(frun.inputs[0].name, crun.outputs[0].name)
        self.assertEqual(frun.dependencies, [crun.id])
        self.assertTrue(mltrace.load(frun.outputs[0].name).equals(features.__wrapped__(clean.__wrapped__(raw))))

    @unittest.skipIf(np is None, "numpy is not installed")
    def test_numpy_hash_is_content_based(self):
        from mltrace._artifacts import content_hash
        x = np.arange(10)
        self.assertEqual(content_hash(x), content_hash(np.arange(10)))
        self.assertNotEqual(content_hash(x), content_hash(np.arange(11)))


if __name__ == "__main__":
    unittest.main()
