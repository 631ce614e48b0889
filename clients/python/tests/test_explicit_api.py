"""The explicit API: ComponentRun + log_component_run, and the run attributes
read back."""

import unittest
from datetime import datetime, timedelta, timezone

from _support import MltraceTestCase

import mltrace
from mltrace import ComponentRun, IOPointer, PointerTypeEnum


def logged(component, inputs=(), outputs=(), start=None, end=None, **kw):
    cr = ComponentRun(component)
    cr.set_start_timestamp(start)
    cr.set_end_timestamp(end or start)
    cr.add_inputs(list(inputs))
    cr.add_outputs(list(outputs))
    return mltrace.log_component_run(cr, **kw)


class ComponentRunObjectTest(unittest.TestCase):
    def test_original_attribute_names(self):
        cr = ComponentRun("cleaning")
        for attr in ("component_name", "start_timestamp", "end_timestamp", "inputs", "outputs",
                     "git_hash", "git_tags", "code_snapshot", "id", "notes", "stale", "dependencies"):
            self.assertTrue(hasattr(cr, attr), attr)
        self.assertEqual(cr.component_name, "cleaning")
        self.assertEqual(cr.inputs, [])
        self.assertIsNone(cr.id)

    def test_timestamps_are_aware_utc(self):
        cr = ComponentRun("c")
        cr.set_start_timestamp()
        self.assertEqual(cr.start_timestamp.utcoffset(), timedelta(0))
        cr.set_end_timestamp(datetime(2024, 5, 1, 12, 0, 0))  # naive: taken as UTC
        self.assertEqual(cr.end_timestamp, datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
        with self.assertRaises(TypeError):
            cr.set_start_timestamp("yesterday")  # type: ignore[arg-type]

    def test_io_dedup_keeps_order(self):
        cr = ComponentRun("c")
        cr.add_input("b.csv")
        cr.add_inputs(["a.csv", "b.csv", IOPointer("c.txt")])
        self.assertEqual([p.name for p in cr.inputs], ["b.csv", "a.csv", "c.txt"])
        self.assertEqual(cr.inputs[0].pointer_type, PointerTypeEnum.DATA)
        self.assertEqual(cr.inputs[0]["name"], "b.csv")  # dict-style access of 0.17

    def test_notes_must_be_str(self):
        cr = ComponentRun("c")
        cr.notes = "hello"
        with self.assertRaises(TypeError):
            cr.notes = 3  # type: ignore[assignment]

    def test_missing_timestamps(self):
        cr = ComponentRun("c")
        with self.assertRaises(RuntimeError):
            mltrace.log_component_run(cr)


class LogComponentRunTest(MltraceTestCase):
    def test_roundtrip_every_attribute(self):
        comp = self.uniq("cleaning")
        raw, clean = self.uniq("raw") + ".csv", self.uniq("clean") + ".csv"
        start = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        cr = ComponentRun(comp)
        cr.set_start_timestamp(start)
        cr.set_end_timestamp(start + timedelta(seconds=90))
        cr.add_input(raw)
        cr.add_output(clean)
        cr.add_output(IOPointer(self.uniq("api"), pointer_type=PointerTypeEnum.ENDPOINT))
        cr.git_hash = "0123456789abcdef0123456789abcdef01234567"
        cr.git_tags = ["v1.0", "étiquette"]
        cr.code_snapshot = "def clean(df):\n    return df  # ünïcödé ✓ 数据\n"
        cr.notes = "first run — with notes"
        out = mltrace.log_component_run(cr)
        self.assertIs(out, cr)
        self.assertIsInstance(cr.id, int)
        self.assertEqual(cr.dependencies, [])

        got = mltrace.get_component_run_information(cr.id)
        self.assertEqual(got.id, cr.id)
        self.assertEqual(got.component_name, comp)
        self.assertEqual(got.start_timestamp, start.astimezone(timezone.utc))
        self.assertEqual(got.start_timestamp.tzinfo, timezone.utc)
        self.assertEqual(got.end_timestamp - got.start_timestamp, timedelta(seconds=90))
        self.assertEqual([p.name for p in got.inputs], [raw])
        self.assertEqual([p.name for p in got.outputs][0], clean)
        self.assertEqual(got.outputs[1].pointer_type, PointerTypeEnum.ENDPOINT)
        self.assertEqual(got.inputs[0].pointer_type, PointerTypeEnum.DATA)
        self.assertEqual(got.git_hash, cr.git_hash)
        self.assertEqual(got.git_tags, ["v1.0", "étiquette"])
        self.assertEqual(got.code_snapshot, cr.code_snapshot)
        self.assertEqual(got.notes, "first run — with notes")
        self.assertEqual(got.stale, [])
        self.assertIsInstance(got.seq, int)

    def test_naive_time_is_utc(self):
        comp = self.uniq("naive")
        start = datetime(2024, 2, 29, 23, 59, 59)
        cr = logged(comp, start=start)
        got = mltrace.get_component_run_information(cr.id)
        self.assertEqual(got.start_timestamp, start.replace(tzinfo=timezone.utc))

    def test_dependencies_from_inputs(self):
        a, b = self.uniq("ingest"), self.uniq("clean")
        f1 = self.uniq("file") + ".csv"
        r1 = logged(a, outputs=[f1])
        r2 = logged(b, inputs=[f1], outputs=[self.uniq("out")])
        self.assertEqual(r2.dependencies, [r1.id])
        self.assertEqual(mltrace.get_component_run_information(r2.id).dependencies, [r1.id])
        self.assertEqual(mltrace.get_component_run_information(r2.id).inputs[0].producer, r1.id)

    def test_latest_producer_wins(self):
        a, b = self.uniq("gen"), self.uniq("use")
        f = self.uniq("f")
        r1 = logged(a, outputs=[f])
        r2 = logged(a, outputs=[f])
        r3 = logged(b, inputs=[f])
        self.assertEqual(r3.dependencies, [r2.id])
        self.assertNotEqual(r1.id, r2.id)

    def test_hash_picks_the_matching_version(self):
        a, b = self.uniq("gen"), self.uniq("use")
        f = self.uniq("f")
        cr1 = ComponentRun(a)
        cr1.set_start_timestamp(); cr1.set_end_timestamp()
        cr1.add_output(IOPointer(f, value="version one"))
        mltrace.log_component_run(cr1)
        cr2 = ComponentRun(a)
        cr2.set_start_timestamp(); cr2.set_end_timestamp()
        cr2.add_output(IOPointer(f, value="version two"))
        mltrace.log_component_run(cr2)
        cr3 = ComponentRun(b)
        cr3.set_start_timestamp(); cr3.set_end_timestamp()
        cr3.add_input(IOPointer(f, value="version one"))
        mltrace.log_component_run(cr3)
        self.assertEqual(cr3.dependencies, [cr1.id])

    def test_no_dependencies_from_inputs_and_set_upstream(self):
        a, b, c = self.uniq("a"), self.uniq("b"), self.uniq("c")
        f = self.uniq("f")
        ra = logged(a, outputs=[f])
        rb = logged(b)
        cr = ComponentRun(c)
        cr.set_start_timestamp(); cr.set_end_timestamp()
        cr.add_input(f)
        cr.set_upstream(b)
        self.assertEqual(cr.dependencies, [b])  # names until logged
        mltrace.log_component_run(cr, set_dependencies_from_inputs=False)
        self.assertEqual(cr.dependencies, [rb.id])
        self.assertNotIn(ra.id, cr.dependencies)

    def test_set_upstream_list_and_unknown(self):
        a, b = self.uniq("a"), self.uniq("b")
        ra, rb = logged(a), logged(b)
        cr = ComponentRun(self.uniq("c"))
        cr.set_start_timestamp(); cr.set_end_timestamp()
        cr.set_upstream([a, b])
        mltrace.log_component_run(cr)
        self.assertEqual(cr.dependencies, sorted([ra.id, rb.id]))
        bad = ComponentRun(self.uniq("c"))
        bad.set_start_timestamp(); bad.set_end_timestamp()
        bad.set_upstream(self.uniq("never-ran"))
        with self.assertRaises(mltrace.ServerError):
            mltrace.log_component_run(bad)

    def test_staleness_threshold(self):
        a, b = self.uniq("old"), self.uniq("new")
        f = self.uniq("f")
        t0 = datetime(2020, 1, 1, tzinfo=timezone.utc)
        ra = logged(a, outputs=[f], start=t0)
        rb = logged(b, inputs=[f], start=t0 + timedelta(days=45))
        self.assertEqual(rb.stale, [f"{a} (ID {ra.id}) was run 45 days ago."])
        rc = logged(b, inputs=[f], start=t0 + timedelta(days=45), staleness_threshold=60 * 60 * 24 * 60)
        self.assertEqual(rc.stale, [])
        rd = logged(b, inputs=[f], start=t0 + timedelta(days=2), staleness_threshold=timedelta(days=1))
        self.assertEqual(rd.stale, [f"{a} (ID {ra.id}) was run 2 days ago."])

    def test_fresher_run_staleness(self):
        a, b = self.uniq("feat"), self.uniq("train")
        f = self.uniq("f")
        t0 = datetime(2023, 6, 1, tzinfo=timezone.utc)
        r1 = logged(a, outputs=[f], start=t0)
        logged(a, outputs=[self.uniq("other")], start=t0 + timedelta(hours=1))
        rb = logged(b, inputs=[f], start=t0 + timedelta(hours=2))
        self.assertEqual(rb.dependencies, [r1.id])
        self.assertEqual(
            rb.stale, [f"{a} (ID {r1.id}) has 1 fresher run that began before this component run started."])

    def test_same_name_input_and_output(self):
        a = self.uniq("inc")
        f = self.uniq("counter")
        r1 = logged(a, outputs=[f])
        r2 = logged(a, inputs=[f], outputs=[f])
        self.assertEqual(r2.dependencies, [r1.id])

    def test_explicit_idempotency_key_never_duplicates(self):
        comp = self.uniq("idem")
        key = self.uniq("key")
        first = logged(comp, idempotency_key=key)
        again = logged(comp, idempotency_key=key)
        self.assertEqual(first.id, again.id)
        self.assertEqual(len(mltrace.get_history(comp)), 1)

    def test_create_random_ids(self):
        ids = mltrace.create_random_ids(3)
        self.assertEqual(len(set(ids)), 3)
        self.assertTrue(all(isinstance(i, str) and len(i) == 36 for i in ids))

    def test_from_and_to_dictionary(self):
        cr = ComponentRun("x", notes="n")
        cr.add_input("a.csv")
        d = cr.to_dictionary()
        self.assertEqual(d["component_name"], "x")
        again = ComponentRun.from_dictionary(d)
        self.assertEqual([p.name for p in again.inputs], ["a.csv"])
        self.assertIn('"component_name": "x"', repr(cr))


if __name__ == "__main__":
    unittest.main()
