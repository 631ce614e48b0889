"""Every query function, on a server of the class's own (known state)."""

import unittest
from datetime import datetime, timedelta, timezone

from _support import PrivateServerTestCase

import mltrace
from mltrace import Component, ComponentRun

T0 = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)


def log(component, inputs=(), outputs=(), minutes=0, notes=""):
    cr = ComponentRun(component, notes=notes)
    cr.set_start_timestamp(T0 + timedelta(minutes=minutes))
    cr.set_end_timestamp(T0 + timedelta(minutes=minutes, seconds=30))
    cr.add_inputs(list(inputs))
    cr.add_outputs(list(outputs))
    return mltrace.log_component_run(cr)


class QueryTest(PrivateServerTestCase):
    """A small pipeline: ingest -> clean -> featuregen -> train -> infer (x2)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        mltrace.set_db_uri(cls._private.uri)
        mltrace.create_component("ingest", "Reads raw trips", "alice", ["etl"])
        mltrace.create_component("clean", "Cleans trips", "alice", ["etl"])
        mltrace.create_component("train", "Trains the model", "bob", ["ml"])
        cls.r_ingest = log("ingest", ["s3://raw/trips.csv"], ["raw.csv"], 0)
        cls.r_clean = log("clean", ["raw.csv"], ["clean.csv"], 1)
        cls.r_feat = log("featuregen", ["clean.csv"], ["features.pq"], 2)
        cls.r_train = log("train", ["features.pq"], ["model.pkl"], 3)
        cls.r_infer1 = log("infer", ["features.pq", "model.pkl"], ["pred_1", "pred_2"], 4)
        cls.r_infer2 = log("infer", ["model.pkl"], ["pred_3"], 5)
        mltrace.set_db_uri("http://127.0.0.1:1")

    def setUp(self):
        super().setUp()
        mltrace.unflag_all()

    def test_backtrace(self):
        bt = mltrace.backtrace("pred_1")
        self.assertEqual([(d, r.component_name) for d, r in bt],
                         [(0, "infer"), (1, "featuregen"), (2, "clean"), (3, "ingest"), (1, "train")])
        depth, run = bt[0]
        self.assertEqual(run.id, self.r_infer1.id)
        self.assertEqual([o.name for o in run.outputs], ["pred_1", "pred_2"])
        self.assertEqual(run.start_timestamp, T0 + timedelta(minutes=4))
        self.assertEqual(run.start_timestamp.tzinfo, timezone.utc)

    def test_backtrace_unknown_and_source(self):
        with self.assertRaises(RuntimeError):
            mltrace.backtrace("never-seen-anywhere")
        self.assertEqual(mltrace.backtrace("s3://raw/trips.csv"), [])

    def test_trace_is_the_api_answer(self):
        t = mltrace.trace("model.pkl")
        self.assertEqual(t["root"], self.r_train.id)
        self.assertEqual([n["run"]["component"] for n in t["nodes"]], ["train", "featuregen", "clean", "ingest"])
        self.assertIn({"from": self.r_train.id, "to": self.r_feat.id, "via": "features.pq"}, t["edges"])
        self.assertFalse(t["truncated"])
        shallow = mltrace.trace("model.pkl", max_depth=1)
        self.assertEqual(len(shallow["nodes"]), 2)

    def test_web_trace(self):
        tree = mltrace.web_trace("model.pkl")
        self.assertEqual(tree[0]["label"], "train")
        self.assertEqual(tree[0]["childNodes"][0]["label"], "model.pkl")
        self.assertEqual(tree[0]["childNodes"][1]["label"], "featuregen")

    def test_get_history(self):
        h = mltrace.get_history("infer")
        self.assertEqual([r.id for r in h], [self.r_infer2.id, self.r_infer1.id])
        self.assertIsNone(h[0].code_snapshot)
        self.assertEqual(len(mltrace.get_history("infer", limit=1)), 1)
        lower = mltrace.get_history("infer", date_lower=T0 + timedelta(minutes=5))
        self.assertEqual([r.id for r in lower], [self.r_infer2.id])
        upper = mltrace.get_history("infer", date_upper=(T0 + timedelta(minutes=4)).isoformat())
        self.assertEqual([r.id for r in upper], [self.r_infer1.id])
        both = mltrace.get_history("infer", date_lower=datetime.min, date_upper=datetime.max)
        self.assertEqual(len(both), 2)
        self.assertEqual(mltrace.get_history("infer", limit=None)[1].id, self.r_infer1.id)

    def test_get_recent_run_ids(self):
        ids = mltrace.get_recent_run_ids()
        self.assertEqual(ids, [self.r_infer2.id, self.r_infer1.id, self.r_train.id,
                               self.r_feat.id, self.r_clean.id])
        self.assertEqual(mltrace.get_recent_run_ids(limit=2, last_run_id=self.r_train.id),
                         [self.r_feat.id, self.r_clean.id])
        self.assertEqual(len(mltrace.get_recent_run_ids(limit=100)), 6)
        self.assertEqual([r.id for r in mltrace.get_recent_runs(2)], ids[:2])

    def test_component_information(self):
        c = mltrace.get_component_information("train")
        self.assertIsInstance(c, Component)
        self.assertEqual((c.name, c.description, c.owner, c.tags), ("train", "Trains the model", "bob", ["ml"]))
        self.assertEqual(c.run_count, 1)
        self.assertEqual(c.latest_run.id, self.r_train.id)
        auto = mltrace.get_component_information("featuregen")
        self.assertEqual((auto.owner, auto.description, auto.tags), ("", "", []))
        with self.assertRaises(RuntimeError):
            mltrace.get_component_information("nope-nothing")

    def test_component_run_information(self):
        r = mltrace.get_component_run_information(self.r_infer1.id)
        self.assertEqual(r.component_name, "infer")
        self.assertEqual(r.dependencies, sorted([self.r_feat.id, self.r_train.id]))
        self.assertEqual([(i.name, i.producer) for i in r.inputs],
                         [("features.pq", self.r_feat.id), ("model.pkl", self.r_train.id)])
        self.assertEqual(mltrace.get_component_run_information(str(self.r_infer1.id)).id, self.r_infer1.id)
        with self.assertRaises(ValueError):
            mltrace.get_component_run_information("abc")

    def test_get_components_and_tags(self):
        names = lambda cs: sorted(c.name for c in cs)  # noqa: E731
        self.assertEqual(names(mltrace.get_components(tag="etl")), ["clean", "ingest"])
        self.assertEqual(names(mltrace.get_components(owner="bob")), ["train"])
        self.assertEqual(names(mltrace.get_components(tag="etl", owner="bob")), [])
        self.assertTrue({"ingest", "clean", "featuregen", "train", "infer"} <= set(names(mltrace.get_components())))
        self.assertEqual(names(mltrace.get_components_with_tag("ml")), ["train"])
        self.assertEqual(names(mltrace.get_components_with_owner("alice")), ["clean", "ingest"])
        self.assertTrue({"etl", "ml"} <= set(mltrace.get_all_tags()))

    def test_tag_component(self):
        mltrace.tag_component("featuregen", ["features", "etl"])
        self.assertEqual(sorted(mltrace.get_component_information("featuregen").tags), ["etl", "features"])
        with self.assertRaises(RuntimeError):
            mltrace.tag_component("no-such-component-here", ["x"])

    def test_notes(self):
        self.assertEqual(mltrace.add_notes_to_component_run(self.r_clean.id, "checked by ✓ Zoë"), "checked by ✓ Zoë")
        self.assertEqual(mltrace.get_component_run_information(self.r_clean.id).notes, "checked by ✓ Zoë")
        mltrace.add_notes_to_component_run(self.r_clean.id, "replaced")
        self.assertEqual(mltrace.get_component_run_information(self.r_clean.id).notes, "replaced")
        with self.assertRaises(RuntimeError):
            mltrace.add_notes_to_component_run(10 ** 6, "x")

    def test_flag_unflag_review(self):
        self.assertTrue(mltrace.flag_output_id("pred_1"))
        self.assertTrue(mltrace.flag_output_id("pred_3", reason="label mismatch", by="carol"))
        flags = {f["name"]: f for f in mltrace.get_flags()}
        self.assertEqual(flags["pred_3"]["reason"], "label mismatch")
        self.assertTrue(mltrace.get_io_pointer("pred_1").flag)

        flagged, runs = mltrace.review_flagged_outputs()
        self.assertEqual(sorted(flagged), ["pred_1", "pred_3"])
        counts = [(r.component_name, c) for r, c in runs]
        # train, featuregen, clean, ingest are in both traces; the infers in one each
        self.assertEqual(counts[:4], [("train", 2), ("featuregen", 2), ("clean", 2), ("ingest", 2)])
        self.assertEqual(sorted(counts[4:]), [("infer", 1), ("infer", 1)])
        self.assertEqual(runs[0][0].id, self.r_train.id)

        self.assertFalse(mltrace.unflag_output_id("pred_1"))
        flagged, _ = mltrace.review_flagged_outputs()
        self.assertEqual(flagged, ["pred_3"])
        self.assertEqual(mltrace.unflag_all(), ["pred_3"])
        self.assertEqual(mltrace.review_flagged_outputs(), ([], []))

    def test_flag_unknown_output(self):
        with self.assertRaises(RuntimeError):
            mltrace.flag_output_id("not-an-output-anywhere")

    def test_get_io_pointer(self):
        p = mltrace.get_io_pointer("model.pkl")
        self.assertEqual(p.pointer_type, mltrace.PointerTypeEnum.MODEL)
        self.assertFalse(p.flag)
        local = mltrace.get_io_pointer("brand-new-name")
        self.assertEqual(local.name, "brand-new-name")
        with self.assertRaises(RuntimeError):
            mltrace.get_io_pointer("brand-new-name", create=False)

    def test_downstream(self):
        d = mltrace.downstream("clean.csv")
        comps = [(x["depth"], x["run"]["component"]) for x in d["runs"]]
        self.assertIn((1, "featuregen"), comps)
        self.assertIn("pred_1", d["outputs"])
        src = mltrace.downstream("s3://raw/trips.csv")
        self.assertIn("ingest", [x["run"]["component"] for x in src["runs"]])

    def test_outdated(self):
        self.assertEqual(mltrace.outdated(), [])

    def test_clean_db_is_refused(self):
        with self.assertRaises(NotImplementedError):
            mltrace.clean_db()


class OutdatedTest(PrivateServerTestCase):
    def test_superseded_dependency(self):
        a = log("featuregen", outputs=["f.pq"], minutes=0)
        log("train", inputs=["f.pq"], outputs=["m.pkl"], minutes=1)
        b = log("featuregen", outputs=["f.pq"], minutes=2)
        out = mltrace.outdated()
        self.assertEqual([c["name"] for c in out], ["train"])
        self.assertIn(f"featuregen (ID {a.id}) has been superseded by ID {b.id}.", out[0]["reasons"])

    def test_as_of(self):
        r = log("asof", outputs=["asof.csv"], minutes=0)
        seq = r.seq
        log("asof", outputs=["asof.csv"], minutes=1)
        self.assertEqual(len(mltrace.get_history("asof")), 2)
        self.assertEqual([x.id for x in mltrace.get_history("asof", as_of=seq)], [r.id])
        self.assertEqual(mltrace.backtrace("asof.csv", as_of=seq)[0][1].id, r.id)


if __name__ == "__main__":
    unittest.main()
