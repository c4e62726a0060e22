import sys
from pathlib import Path

# tests/eventset.py and friends are importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter):
    from reporting import SUMMARIES

    for text in SUMMARIES:
        terminalreporter.write_line("")
        terminalreporter.write(text)
