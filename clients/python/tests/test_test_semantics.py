"""Before/after Test semantics: binding by name, failure rules, renames,
skip_before / skip_after."""

import unittest

from _support import MltraceTestCase

import mltrace
from mltrace import Component, Test


class Recorder:
    calls = []


class PositiveTest(Test):
    def __init__(self):
        super().__init__(name="positive")

    def testPositive(self, x):
        Recorder.calls.append(("testPositive", x))
        if x <= 0:
            raise ValueError(f"x must be positive, got {x}")

    def testWithDefault(self, x, limit=100):
        Recorder.calls.append(("testWithDefault", x, limit))
        if x > limit:
            raise AssertionError(f"{x} over {limit}")

    def helper_not_a_test(self, x):
        Recorder.calls.append(("helper", x))


class ResultTest(Test):
    def testResultSmall(self, result):
        Recorder.calls.append(("testResultSmall", result))
        assert result < 10, f"result {result} too big"

    def testAlwaysPasses(self):
        Recorder.calls.append(("testAlwaysPasses",))


class ModelTest(Test):
    def testClf(self, clf, threshold=0.5):
        Recorder.calls.append(("testClf", clf, threshold))


class TestSemantics(MltraceTestCase):
    def setUp(self):
        super().setUp()
        Recorder.calls = []

    def test_before_failure_stops_and_logs_nothing(self):
        name = self.uniq("before-fail")
        ran = []

        _comp = Component(name, beforeTests=[PositiveTest])

        @_comp.run(outputs=["o"])
        def f(x):
            ran.append(x)
            return x

        with self.assertRaises(ValueError) as cm:
            f(-1)
        self.assertIn("x must be positive", str(cm.exception))
        self.assertEqual(ran, [])
        with self.assertRaises(mltrace.NotFoundError):
            mltrace.get_component_information(name)
        self.assertNotIn(("helper", -1), Recorder.calls)

    def test_before_binds_arguments_and_defaults(self):
        name = self.uniq("before-ok")

        _comp = Component(name, beforeTests=[PositiveTest])

        @_comp.run
        def f(a, x=7, **kw):
            return a

        self.assertEqual(f("A"), "A")
        self.assertIn(("testPositive", 7), Recorder.calls)
        self.assertIn(("testWithDefault", 7, 100), Recorder.calls)
        f("A", limit=3, x=2)  # **kw entries are bound too
        self.assertIn(("testWithDefault", 2, 3), Recorder.calls)
        runs = mltrace.get_history(name)
        run = mltrace.get_component_run_information(runs[0].id)
        self.assertEqual(
            sorted((t.name, t.phase, t.passed) for t in run.tests),
            [("PositiveTest.testPositive", "before", True), ("PositiveTest.testWithDefault", "before", True)])

    def test_after_failure_is_logged_then_raised(self):
        name = self.uniq("after-fail")

        _comp = Component(name, afterTests=[ResultTest])

        @_comp.run(input_vars=["n"], outputs=["after-out"])
        def f(n):
            result = n * 10
            return result

        with self.assertRaises(AssertionError) as cm:
            f(5)
        self.assertIn("result 50 too big", str(cm.exception))
        runs = mltrace.get_history(name)
        self.assertEqual(len(runs), 1)
        run = mltrace.get_component_run_information(runs[0].id)
        by_name = {t.name: t for t in run.tests}
        self.assertFalse(by_name["ResultTest.testResultSmall"].passed)
        self.assertEqual(by_name["ResultTest.testResultSmall"].phase, "after")
        self.assertIn("result 50 too big", by_name["ResultTest.testResultSmall"].message)
        self.assertTrue(by_name["ResultTest.testAlwaysPasses"].passed)
        self.assertIsNone(by_name["ResultTest.testAlwaysPasses"].message)
        # both after-tests ran even though the first failed
        self.assertIn(("testAlwaysPasses",), Recorder.calls)

    def test_after_pass_returns_value(self):
        name = self.uniq("after-ok")

        _comp = Component(name, afterTests=[ResultTest()])

        @_comp.run  # an instance works too
        def f(n):
            result = n
            return result + 100

        self.assertEqual(f(3), 103)
        self.assertIn(("testResultSmall", 3), Recorder.calls)

    def test_renamed_parameters(self):
        name = self.uniq("rename")

        _comp = Component(name, beforeTests=[ModelTest], afterTests=[ModelTest])

        @_comp.run(clf="my_model")
        def train(my_model, threshold=0.9):
            my_model = my_model + "-trained"
            return my_model

        train("forest")
        self.assertEqual(Recorder.calls, [("testClf", "forest", 0.9), ("testClf", "forest-trained", 0.9)])

    def test_missing_test_argument_is_a_failure(self):
        name = self.uniq("missing-arg")

        _comp = Component(name, afterTests=[ModelTest])

        @_comp.run
        def f():
            other = 1
            return other

        with self.assertRaises(TypeError):
            f()
        run = mltrace.get_component_run_information(mltrace.get_history(name)[0].id)
        self.assertFalse(run.tests[0].passed)
        self.assertIn("clf", run.tests[0].message)

    def test_skip_before_and_after(self):
        name = self.uniq("skip")

        _comp = Component(name, beforeTests=[PositiveTest], afterTests=[ResultTest])

        @_comp.run(
            skip_before=True, skip_after=True)
        def f(x):
            result = 1000
            return result

        self.assertEqual(f(-5), 1000)
        self.assertEqual(Recorder.calls, [])
        run = mltrace.get_component_run_information(mltrace.get_history(name)[0].id)
        self.assertEqual(run.tests, [])

    def test_overridden_before_and_after_run(self):
        name = self.uniq("hooks")
        events = []

        class Hooked(Component):
            def __init__(self):
                super().__init__(name=name, owner="me")

            def beforeRun(self, **kwargs):
                events.append(("before", sorted(kwargs)))

            def afterRun(self, **local_vars):
                events.append(("after", sorted(local_vars)))
                raise RuntimeError("trigger failed")

        _comp = Hooked()

        @_comp.run
        def f(a):
            b = a + 1
            return b

        with self.assertRaises(RuntimeError):
            f(1)
        self.assertEqual(events, [("before", ["a"]), ("after", ["a", "b"])])
        run = mltrace.get_component_run_information(mltrace.get_history(name)[0].id)
        self.assertEqual(run.tests[0].name, "Hooked.afterRun")
        self.assertFalse(run.tests[0].passed)

    def test_run_tests_directly(self):
        t = PositiveTest()
        self.assertEqual(t.name, "positive")
        self.assertEqual(sorted(m.__name__ for m in t.getTestMethods()), ["testPositive", "testWithDefault"])
        t.runTests(x=3)
        with self.assertRaises(ValueError):
            t.runTests(x=-3)


if __name__ == "__main__":
    unittest.main()
