""""Did my video count?" and the top videos on the local stack's ClickHouse 18.16.

The scenario of ``tests/unit/audit/test_lookup.py`` (run there on a current ClickHouse):
rows written through the sink after ``migrate`` into this test's own database, several
versions per key and out of order; every lookup status, the newest version winning, the top
list's order and exactness, never a creator id — before and after the versions are merged.
"""

from __future__ import annotations

from typing import Any

import pytest

from forgood.audit.lookup import lookup_video, top_videos
from forgood.domain.settings import Settings
from tests.unit.audit.test_lookup import CAMPAIGN, check_scenario, write_scenario

pytestmark = pytest.mark.integration


def test_lookup_and_top_videos_on_clickhouse_18(run_settings: Settings, clickhouse: Any) -> None:
    db = run_settings.clickhouse.database
    assert lookup_video(clickhouse, db, CAMPAIGN, "v-counted").status == "unknown"  # no database yet
    assert top_videos(clickhouse, db, CAMPAIGN) == []
    version = clickhouse.execute("SELECT version()")[0][0]
    assert version.startswith("18.16"), f"the local stack runs ClickHouse {version}, not 18.16"
    write_scenario(clickhouse, db)
    check_scenario(clickhouse, db)
    clickhouse.execute(f"OPTIMIZE TABLE {db}.campaign_videos_versions FINAL")
    check_scenario(clickhouse, db)
