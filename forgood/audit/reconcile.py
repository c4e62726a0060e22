"""``forgood reconcile``: recount every campaign and compare with what ClickHouse shows.

:func:`reconcile` is the entry point (the CLI command and the integration tests call it). It
blocks: it reads the campaigns topic, ClickHouse and, with ``from_source``, the three source
topics end to end, then compares (:mod:`forgood.audit.reconcile_diff`):

* every campaign on the campaigns topic and every campaign id found in ClickHouse's tables
  (or only ``campaign``) is recounted from its ``campaign_videos`` rows
  (:mod:`forgood.audit.recount`, under the campaign's current terms) and compared with its
  ``campaign_totals`` and ``campaign_minutes``;
* with ``from_source`` the source topics are recounted by the worker's rules
  (:mod:`forgood.audit.source`) and every expected (campaign, video) is compared with
  ``campaign_videos``, and the source's totals and minutes with the aggregates.

The answer is exact when the pipeline has caught up with the source topics and written
everything to ClickHouse; while events are still flowing, a recent video may differ for a
moment. Nothing is written anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from forgood.audit.reconcile_diff import CampaignReconciliation, Difference, ReconcileResult, reconcile_campaign
from forgood.audit.reconcile_reads import campaign_ids, read_minutes, read_sources, read_totals, read_video_rows
from forgood.audit.recount import Terms
from forgood.audit.source import SourceRecount, recount_source
from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ForgoodError
from forgood.domain.settings import Settings

#: Default bound on reading the three source topics to their end (``--from-source``).
SOURCE_TIMEOUT_S = 300.0


class ReconcileError(ForgoodError):
    """The reconciliation could not run (a server unreachable, a schema missing, an unknown
    campaign); the message says which. Nothing was compared."""


def reconcile(
    settings: Settings,
    campaign: str | None = None,
    from_source: bool = False,
    *,
    client: Any = None,
    campaigns: dict[str, Campaign] | None = None,
    source_timeout_s: float = SOURCE_TIMEOUT_S,
    now: datetime | None = None,
) -> ReconcileResult:
    """Recount and compare (module docstring); blocks on Kafka and ClickHouse.

    ``client`` is a clickhouse-driver ``Client`` (default: :func:`sinks.clickhouse.connect`),
    ``campaigns`` the campaigns by id (default: read from the campaigns topic), ``now`` the
    time source events are validated against (default: the wall clock, as the worker's).
    Raises :class:`ReconcileError` when Kafka or ClickHouse fails or ``campaign`` is known
    nowhere; a :class:`~forgood.domain.errors.ForgoodError` from reading the campaigns.
    """
    from clickhouse_driver.errors import Error as ClickHouseError
    from kafka.errors import KafkaError

    from forgood.cli.campaigns import read_campaigns
    from forgood.domain.kafka import ReadTimeout
    from sinks.clickhouse import connect

    db = settings.clickhouse.database
    try:
        if campaigns is None:
            campaigns = read_campaigns(settings)
        source = None
        if from_source:
            created, statuses, stats = read_sources(settings, source_timeout_s)
            source = recount_source(created, statuses, stats, campaigns.values(), now=now or datetime.now(UTC),
                                    max_future_skew=timedelta(seconds=settings.max_future_skew_s))
    except ReadTimeout as exc:
        raise ReconcileError(f"could not read the source topics ({', '.join(settings.source_topics)}) to their "
                             f"end: {exc}") from None
    except KafkaError as exc:
        raise ReconcileError(f"Kafka at {settings.kafka_bootstrap} failed: {exc} "
                             "(is the broker up? `forgood stack status`)") from None
    client = client if client is not None else connect(settings)
    target = settings.clickhouse
    try:
        return _compare(client, db, campaigns, campaign, source)
    except (ClickHouseError, OSError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ReconcileError(f"ClickHouse at {target.host}:{target.port} (database {db}) failed: {first} "
                             "(is it up, and has the sink created the schema? `forgood stack status`)") from None


def _compare(client: Any, db: str, campaigns: dict[str, Campaign], campaign: str | None,
             source: SourceRecount | None) -> ReconcileResult:
    ids = set(campaigns) | campaign_ids(client, db)
    if campaign is not None:
        if campaign not in ids:
            raise ReconcileError(f"no campaign {campaign!r} on the campaigns topic or in ClickHouse "
                                 f"(known: {', '.join(sorted(ids)) or 'none'})")
        ids = {campaign}
    totals = read_totals(client, db)
    checked: list[CampaignReconciliation] = []
    for cid in sorted(ids):
        known = campaigns.get(cid)
        terms = None if known is None else Terms(known.price_minor, known.cap_minor, known.currency)
        total = totals.get(cid)
        checked.append(reconcile_campaign(
            cid, terms, None if total is None else total[0], read_minutes(client, db, cid),
            read_video_rows(client, db, cid), None if source is None else source.rows.get(cid, {}),
        ))
    return ReconcileResult(tuple(checked), source is not None, None if source is None else source.summary())


__all__ = ["SOURCE_TIMEOUT_S", "Difference", "ReconcileError", "ReconcileResult", "reconcile"]
