"""Hooks for the whole test run. Helpers are imported from ``tests.support`` (the repository
root is on sys.path through ``pythonpath`` in pyproject.toml's [tool.pytest.ini_options])."""

from tests.support.reporting import SUMMARIES


def pytest_terminal_summary(terminalreporter):
    for text in SUMMARIES:
        terminalreporter.write_line("")
        terminalreporter.write(text)
