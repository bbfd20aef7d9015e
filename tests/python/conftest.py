"""Shared pytest setup for the Python package's tests.

The fixture folders come from ctest's environment (tests/CMakeLists.txt); a folder that is
absent makes the tests that need it skip. tests/ is put on sys.path so that the tests can use
the torch oracle of tests/real_load.py (torch.load(weights_only=True), else torch's own readers
behind a stub unpickler that runs nothing).

A run in which every test was skipped exits 77, which ctest reports as skipped.
"""

import os
import sys
import warnings

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
warnings.filterwarnings("ignore", category=UserWarning)


def fixture_dir(var):
    path = os.environ.get(var, "")
    if not path or not os.path.isdir(path):
        pytest.skip(f"{var} is not set or not a folder", allow_module_level=True)
    return path


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus != 0:
        return
    stats = reporter.stats
    ran = sum(len(stats.get(k, [])) for k in ("passed", "failed", "error"))
    if ran == 0 and stats.get("skipped"):
        session.exitstatus = 77
