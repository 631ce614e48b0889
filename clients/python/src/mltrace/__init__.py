"""mltrace: lineage and tests for ML pipelines, logged to an mltrace server or
to the store embedded in this process (``set_db_uri("test")``,
``set_db_uri("file:///path")``, ``MLTRACE_DATA_DIR``).

Existing mltrace 0.16/0.17 code works unchanged::

    from mltrace import Component, Test, register, set_address
    set_address("localhost")          # or DB_SERVER=localhost, or MLTRACE_SERVER=http://...

    @Component("cleaning", owner="plumber").run(input_vars=["src"], output_vars=["dst"])
    def clean(src): ...

Standard library only (plus the compiled store); pandas, numpy and joblib are
used when installed.
"""

from ._version import __version__
from .client import (
    add_notes_to_component_run,
    backtrace,
    clean_db,
    close,
    create_component,
    create_random_ids,
    downstream,
    flag_output_id,
    flush,
    get_address,
    get_all_tags,
    get_component_information,
    get_component_run_information,
    get_components,
    get_components_with_owner,
    get_components_with_tag,
    get_db_uri,
    get_flags,
    get_git_hash,
    get_git_tags,
    get_history,
    get_io_pointer,
    get_recent_run_ids,
    get_recent_runs,
    health,
    load,
    log_component_run,
    outdated,
    register,
    review_flagged_outputs,
    save,
    set_address,
    set_batching,
    set_db_uri,
    set_ca_cert,
    set_retries,
    set_token,
    tag_component,
    trace,
    unflag_all,
    unflag_output_id,
    web_trace,
)
from .component import Component
from .entities import ComponentRun, IOPointer, PointerTypeEnum, Test, TestResult
from .errors import BatchError, ConnectionError, MltraceError, NotFoundError, ServerError
from . import components, tests  # noqa: E402  (mltrace 0.17 exported these modules)

__all__ = [
    "__version__",
    # settings
    "set_address", "set_db_uri", "get_db_uri", "get_address", "set_token", "set_ca_cert", "set_retries",
    "health", "clean_db", "set_batching", "flush", "close",
    # logging
    "Component", "ComponentRun", "IOPointer", "PointerTypeEnum", "Test", "TestResult",
    "create_component", "tag_component", "register", "log_component_run",
    "create_random_ids", "get_git_hash", "get_git_tags", "save", "load",
    "add_notes_to_component_run", "flag_output_id", "unflag_output_id", "unflag_all",
    # queries
    "backtrace", "trace", "web_trace", "downstream", "outdated", "get_history",
    "get_recent_run_ids", "get_recent_runs", "get_component_information",
    "get_component_run_information", "get_components", "get_components_with_owner",
    "get_components_with_tag", "get_all_tags", "get_io_pointer", "get_flags",
    "review_flagged_outputs",
    # errors
    "MltraceError", "ServerError", "NotFoundError", "ConnectionError", "BatchError",
    # modules
    "components", "tests",
]
