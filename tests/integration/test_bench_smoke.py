"""`forgood bench` completes on the local stack and its figures are consistent.

A smoke run with few events: it checks that every phase ran and that every produced event
was counted, never how fast (benchmarks are not timed tests).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_bench_smoke_completes_with_consistent_figures(run_settings, stack_settings, procs, tmp_path):
    settings = run_settings.model_copy(update={"state_dir": stack_settings.state_dir})
    procs.settings = settings
    out = tmp_path / "bench.json"
    result = procs.run("bench", "--events", "3000", "--probes", "5", "--partitions", "4", "--json", str(out),
                       timeout=900)
    text = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 0, text[-4000:]
    figures = json.loads(out.read_text())
    assert figures["events"] == 3000
    assert figures["end_to_end_counted"] == 3000, figures
    assert figures["scale_out_workers"] == 2 and figures["scale_out_counted"] == 3000, figures
    assert figures["raw_ceiling_eps"] > 0 and figures["end_to_end_eps"] > 0 and figures["faust_floor_eps"] > 0
    assert 0 < figures["ratio_end_to_end_to_raw"] == pytest.approx(
        figures["end_to_end_eps"] / figures["raw_ceiling_eps"])
    assert figures["freshness_probes"] == 5
    assert 0 < figures["freshness_p50_s"] <= figures["freshness_p95_s"] <= figures["freshness_p99_s"]
    assert figures["state_changelog_bytes_per_video"] > 0
    assert figures["audit_trail_eps"] > 0  # every video got its campaign_videos row
    assert figures["sink_video_rows"] == 3000 and figures["sink_video_rows_per_s"] > 0, figures
    assert "end to end / raw ceiling" in text
