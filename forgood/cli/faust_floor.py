"""The Faust floor: how fast a Faust agent goes when it does nothing (a ``forgood bench`` phase).

Run as ``python -m forgood.cli.faust_floor TOPIC[,TOPIC...] EVENTS RESULT_FILE`` with the
worker's ``FORGOOD_*`` environment (several topics: one agent subscribed to all of them, as
``match_videos`` is to the three source topics). It starts a Faust worker configured exactly like forgood's
(:func:`streams.app.make_faust_app`: same settings and patches) whose only agent takes
batches of the topic with ``stream.take_events`` and counts them. When ``EVENTS`` have arrived
it writes ``{"events": N, "seconds": S}`` (events after the first batch, and the time from
the first batch to the last, so group joins are excluded)
to RESULT_FILE and keeps idling until the parent stops it.

This is the ceiling of the framework forgood's worker is built on: the worker cannot go faster
than Faust hands it events, whatever it does with them.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import faust
import orjson

from forgood.domain.settings import Settings
from streams.app import make_faust_app


def build(settings: Settings, topic: str, expected: int, result_file: Path) -> faust.App:
    """A Faust app with one counting agent on ``topic`` (comma-separated names: all of them);
    nothing connects until it runs."""
    app = make_faust_app(settings, f"forgood-floor-{uuid.uuid4().hex[:8]}", "floor")
    source = app.topic(*topic.split(","), partitions=settings.partitions, key_serializer="raw", value_serializer="raw")
    state = {"seen": 0, "first": 0.0, "first_batch": 0}

    @app.agent(source)
    async def count(stream: faust.StreamT[Any]) -> None:
        assert isinstance(stream, faust.Stream)  # take_events is the concrete Stream's
        async for events in stream.take_events(settings.batch_size, within=settings.batch_window_s):
            if not state["seen"]:  # the clock starts when the first batch is in hand
                state["first"], state["first_batch"] = time.monotonic(), len(events)
            state["seen"] += len(events)
            if state["seen"] >= expected and not result_file.exists():
                seconds = time.monotonic() - state["first"]
                timed = state["seen"] - state["first_batch"]
                result_file.write_bytes(orjson.dumps({"events": timed, "seconds": seconds}))

    return app


def main() -> None:
    topic, expected, result_file = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    settings = Settings()
    (settings.state_dir / "floor").mkdir(parents=True, exist_ok=True)
    app = build(settings, topic, expected, result_file)
    faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
