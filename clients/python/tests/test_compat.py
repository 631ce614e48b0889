"""mltrace 0.17's public names and positional signatures are all still there."""

import inspect
import unittest

import _support  # noqa: F401  (puts the package on sys.path)

import mltrace

# mltrace 0.17's mltrace.__all__
NAMES_017 = [
    "clean_db", "create_component", "register", "backtrace", "get_history", "tag_component",
    "log_component_run", "create_random_ids", "get_component_information",
    "get_component_run_information", "web_trace", "get_recent_run_ids", "get_io_pointer",
    "set_db_uri", "get_db_uri", "get_git_hash", "get_git_tags", "set_address",
    "add_notes_to_component_run", "flag_output_id", "unflag_output_id", "review_flagged_outputs",
    "get_all_tags", "get_components", "unflag_all", "Component", "Test", "ComponentRun",
    "IOPointer", "components", "tests", "load", "save",
]

# positional parameters (in order) that 0.17 callers may rely on
SIGNATURES = {
    "register": ["component_name", "inputs", "outputs", "input_vars", "output_vars",
                 "input_kwargs", "output_kwargs", "endpoint", "staleness_threshold", "auto_log"],
    "log_component_run": ["component_run", "set_dependencies_from_inputs", "staleness_threshold"],
    "get_history": ["component_name", "limit", "date_lower", "date_upper"],
    "create_component": ["name", "description", "owner", "tags"],
    "tag_component": ["component_name", "tags"],
    "get_recent_run_ids": ["limit", "last_run_id"],
    "get_components": ["tag", "owner"],
    "add_notes_to_component_run": ["component_run_id", "notes"],
    "create_random_ids": ["num_outputs"],
    "save": ["obj", "pathname"],
    "load": ["pathname"],
    "get_io_pointer": ["io_pointer_id", "io_pointer_val", "create"],
}


def positional(fn):
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]


class CompatTest(unittest.TestCase):
    def test_every_017_name_exists(self):
        missing = [n for n in NAMES_017 if not hasattr(mltrace, n)]
        self.assertEqual(missing, [])
        self.assertTrue(set(NAMES_017) <= set(mltrace.__all__))

    def test_positional_signatures(self):
        for name, params in SIGNATURES.items():
            self.assertEqual(positional(getattr(mltrace, name))[:len(params)], params, name)
        self.assertEqual(positional(mltrace.Component.run)[:9], SIGNATURES["register"][1:])
        self.assertEqual(positional(mltrace.Component.__init__)[:6],
                         ["name", "owner", "description", "beforeTests", "afterTests", "tags"])
        self.assertEqual(positional(mltrace.ComponentRun.__init__)[:12], [
            "component_name", "notes", "start_timestamp", "end_timestamp", "inputs", "outputs",
            "git_hash", "git_tags", "code_snapshot", "id", "stale", "dependencies"])
        self.assertEqual(positional(mltrace.IOPointer.__init__)[:4], ["name", "value", "pointer_type", "flag"])
        self.assertEqual(positional(mltrace.Test.__init__), ["name"])

    def test_module_paths_of_017(self):
        from mltrace.db import PointerTypeEnum
        from mltrace.entities import Component, ComponentRun, IOPointer, Test, components, tests

        self.assertIs(Component, mltrace.Component)
        self.assertIs(ComponentRun, mltrace.ComponentRun)
        self.assertEqual(PointerTypeEnum.DATA.value, "DATA")
        self.assertTrue(issubclass(components.PreprocessingComponent, Component))
        self.assertTrue(issubclass(tests.OutliersTest, Test))
        self.assertIsNotNone(IOPointer)

    def test_component_attributes(self):
        c = mltrace.Component("n", "o", "d", tags=["t"])
        self.assertEqual((c.name, c.owner, c.description, c.tags, c.beforeTests, c.afterTests),
                         ("n", "o", "d", ["t"], [], []))
        self.assertEqual(dict(c), {"name": "n", "owner": "o", "description": "d", "tags": ["t"]})


if __name__ == "__main__":
    unittest.main()
