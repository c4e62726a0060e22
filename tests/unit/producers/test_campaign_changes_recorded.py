"""Recording campaign changes (producers.campaigns) without a broker: who applies, repairing a
history an interrupted publish left short, the change-id guard, and the command line's
`campaigns apply --by` / `campaigns history` errors and printing.

The publish itself (topics, offsets, acknowledgements) runs on the real stack in
``tests/integration/test_campaign_history.py``.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError
from typer.testing import CliRunner, Result

import producers.campaigns
from forgood.audit.history import CREATED, term_changes
from forgood.cli.campaigns import apply_lines, history_json
from forgood.cli.cli import app
from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ConfigError, ProducerError
from forgood.domain.records import CampaignChange
from forgood.domain.settings import get_settings
from producers.campaigns import (
    UNKNOWN_APPLIER,
    ApplyReport,
    PublishedCampaign,
    applier,
    check_change_ids,
    missing_changes,
)

T0 = 1_795_546_800  # 2026-11-24T19:00:00Z


def campaign(cid: str = "c1", **changes: Any) -> Campaign:
    data = {
        "id": cid, "name": "Campaign", "nonprofit": "Charity", "hashtags": ["Foo"],
        "donation_per_video": "2.00", "currency": "USD",
        "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2027-03-01T00:00:00Z",
    }
    data.update(changes)
    return Campaign.model_validate(data)


def rows(cid: str, change_id: int, at: int, by: str, old: Campaign | None, new: Campaign) -> list[CampaignChange]:
    return [CampaignChange(cid, change_id, w, o, n, at, by) for w, o, n in term_changes(old, new)]


# --- who applies -------------------------------------------------------------------------------

def test_by_is_stripped_and_checked() -> None:
    assert applier("  alice ") == "alice"
    for bad, message in [("", "must not be empty"), ("   ", "must not be empty"), ("a\nb", "control characters"),
                         ("x" * 201, "at most 200")]:
        with pytest.raises(ConfigError, match=message):
            applier(bad)


def test_by_defaults_to_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "os-user")
    assert applier() == "os-user"

    def no_user() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_user)
    with pytest.raises(ConfigError, match="pass --by NAME"):
        applier()


# --- repairing a history left short ----------------------------------------------------------

V1 = campaign()
V2 = campaign(donation_per_video="2.50", donation_cap="100")


def test_a_complete_history_needs_nothing() -> None:
    published = {"c1": PublishedCampaign(V2, 9, T0 + 60, "alice")}
    history = {"c1": rows("c1", 4, T0, "bob", None, V1) + rows("c1", 9, T0 + 60, "alice", V1, V2)}
    assert missing_changes(published, history) == []


def test_the_newest_record_without_its_changes_is_recorded_from_the_record() -> None:
    published = {"c1": PublishedCampaign(V2, 9, T0 + 60, "alice")}
    history = {"c1": rows("c1", 4, T0, "bob", None, V1)}
    assert missing_changes(published, history) == [
        CampaignChange("c1", 9, "price", "2.00 USD", "2.50 USD", T0 + 60, "alice"),
        CampaignChange("c1", 9, "cap", "", "100.00 USD", T0 + 60, "alice"),
    ]


def test_only_the_rows_that_did_not_arrive_are_recorded() -> None:
    complete = rows("c1", 9, T0 + 60, "alice", V1, V2)
    history = {"c1": rows("c1", 4, T0, "bob", None, V1) + complete[1:]}
    published = {"c1": PublishedCampaign(V2, 9, T0 + 60, "alice")}
    assert missing_changes(published, history) == complete[:1]


def test_campaigns_without_history_are_recorded_as_created_at_their_record() -> None:
    published = {"c1": PublishedCampaign(V1, 2, T0, UNKNOWN_APPLIER),
                 "c2": PublishedCampaign(campaign("c2"), 3, T0, "x")}
    missing = missing_changes(published, {"c2": rows("c2", 3, T0, "x", None, campaign("c2"))})
    assert missing == rows("c1", 2, T0, UNKNOWN_APPLIER, None, V1)
    assert missing[0].what == CREATED


def test_change_ids_beyond_the_campaigns_topic_are_refused() -> None:
    history = {"c1": rows("c1", 9, T0, "bob", None, V1)}
    check_change_ids(history, 10, "t")
    check_change_ids({}, 0, "t")
    with pytest.raises(ProducerError, match="names change 9 but t ends at offset 9"):
        check_change_ids(history, 9, "t")


# --- printing ----------------------------------------------------------------------------------

def test_apply_prints_each_campaigns_changes() -> None:
    report = ApplyReport(
        (V2, campaign("c2"), campaign("c3")),
        rows("c1", 9, T0, "alice", V1, V2) + rows("c3", 11, T0, "alice", None, campaign("c3")),
        rows("c2", 5, T0 - 60, "bob", None, campaign("c2"))[:1],
    )
    assert apply_lines(report) == [
        "c1: price 2.00 USD → 2.50 USD; cap — → 100.00 USD (change 9 by alice)",
        "c2: unchanged",
        "c3: created; price — → 2.00 USD; currency — → USD; starts_at — → 2026-11-01T00:00:00Z; "
        "ends_at — → 2027-03-01T00:00:00Z; hashtags — → foo (change 11 by alice)",
        "also recorded 1 change(s) an earlier apply had published without its history:",
        "  c2: created (change 5 by bob, 2026-11-24 18:59:00 UTC)",
    ]


def test_history_json_is_oldest_first_with_iso_times() -> None:
    changes = rows("c1", 9, T0 + 61, "alice", V1, V2) + rows("c1", 4, T0, "bob", None, V1)[:2]
    assert history_json(changes) == [
        {"campaign_id": "c1", "change_id": 4, "what": "created", "old": "", "new": "",
         "changed_at": "2026-11-24T19:00:00Z", "changed_by": "bob"},
        {"campaign_id": "c1", "change_id": 4, "what": "price", "old": "", "new": "2.00 USD",
         "changed_at": "2026-11-24T19:00:00Z", "changed_by": "bob"},
        {"campaign_id": "c1", "change_id": 9, "what": "price", "old": "2.00 USD", "new": "2.50 USD",
         "changed_at": "2026-11-24T19:01:01Z", "changed_by": "alice"},
        {"campaign_id": "c1", "change_id": 9, "what": "cap", "old": "", "new": "100.00 USD",
         "changed_at": "2026-11-24T19:01:01Z", "changed_by": "alice"},
    ]


# --- command-line errors ------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Run `forgood ...` in-process with a broker and a ClickHouse nothing answers on."""
    monkeypatch.setenv("FORGOOD_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("FORGOOD_CLICKHOUSE_URL", "clickhouse://127.0.0.1:1/forgood")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def assert_clear_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = " ".join(result.output.split())
    assert "error:" in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_apply_refuses_an_empty_by_before_connecting(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("campaigns:\n- id: c1\n  name: C\n  nonprofit: N\n  hashtags: [Foo]\n"
                    "  donation_per_video: '1.00'\n  currency: USD\n"
                    "  starts_at: 2026-11-01T00:00:00Z\n  ends_at: 2027-03-01T00:00:00Z\n")
    assert_clear_error(cli("campaigns", "apply", str(path), "--by", " "), "--by", "must not be empty")


def test_apply_without_a_broker_is_a_clear_error(cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    def no_broker(*_args: Any, **_kwargs: Any) -> None:
        raise KafkaTimeoutError("Unable to bootstrap from ['127.0.0.1:1']")

    monkeypatch.setattr(producers.campaigns, "publish_campaigns", no_broker)  # as the admin client fails, at once
    path = tmp_path / "c.yaml"
    path.write_text("campaigns: []\n")
    assert_clear_error(cli("campaigns", "apply", str(path), "--by", "alice"), "Kafka at 127.0.0.1:1 failed",
                       "Unable to bootstrap")


def test_history_without_clickhouse_is_a_clear_error(cli: Callable[..., Result]) -> None:
    assert_clear_error(cli("campaigns", "history", "c1"), "ClickHouse at 127.0.0.1:1 failed", "forgood stack status")
