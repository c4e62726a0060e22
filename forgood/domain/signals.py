"""Graceful stop for every forgood process that runs in the foreground."""

from __future__ import annotations

import signal
import threading


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT (Ctrl-C) or SIGTERM; installs the handlers (main thread only).

    Foreground loops poll it and stop cleanly (flush, commit, stop children) when it is set.
    """
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
