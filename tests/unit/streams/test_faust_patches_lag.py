"""streams.faust_patches.lag: consumer lag read from a real Faust consumer's commit bookkeeping."""

from __future__ import annotations

import asyncio

from faust.types import TP

from forgood.domain.settings import Settings
from streams.app import make_faust_app
from streams.faust_patches.lag import partition_lag


def test_lag_is_highwater_minus_faust_committed_offset(tmp_path, monkeypatch):
    async def scenario() -> tuple:
        app = make_faust_app(Settings(state_dir=tmp_path), "lag-test", "worker")
        consumer = app.consumer  # Faust's real consumer, never started
        tp = TP("video-created", 3)
        before_fetch = partition_lag(consumer, tp)  # aiokafka has no highwater yet
        monkeypatch.setattr(consumer, "highwater", lambda _tp: 10)
        nothing_committed = partition_lag(consumer, tp)
        getattr(consumer, "_committed_offset")[tp] = 4  # Faust's own bookkeeping of commits  # noqa: B009
        return before_fetch, nothing_committed, partition_lag(consumer, tp)

    assert asyncio.run(scenario()) == (None, 10, 6)
