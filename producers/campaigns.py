"""The campaigns topic: publishing campaigns (``forgood campaigns apply FILE``), recording every
change of their terms (the campaign history), and reading the campaigns back.

:func:`publish_campaigns` is handed campaigns already validated as a whole
(:func:`forgood.domain.campaigns.load_campaign_file`), one record per campaign keyed by id;
running workers pick a change up within about a second. Every record carries who applied it
(header ``forgood-applied-by``) and when (its Kafka timestamp).

**History.** For each campaign whose terms differ from the published campaign's (or that is
new), one :class:`~forgood.domain.records.CampaignChange` per changed term goes to the
compacted changes topic (:func:`forgood.audit.history.term_changes`): ``change_id`` = the
offset of the campaign's record on the (one-partition) campaigns topic, ``changed_at`` = that
record's timestamp in epoch seconds, ``changed_by`` = its header. The sink writes them to
ClickHouse's ``campaign_changes``. Re-applying the same campaigns records nothing.

**Order, and a crash in between.** The campaigns are published and acknowledged first (the
change ids are their offsets), then their changes. A crash or a broker failure after the
campaigns were acknowledged but before their changes were leaves the history one change
short — but only for the newest record of a campaign, and everything that change consists of
is still on the campaigns topic (the record itself, its offset, its timestamp and header; the
newest record of a key survives compaction). So every publish first *repairs*: it folds the
history on the changes topic into the terms it records per campaign
(:func:`forgood.audit.history.terms_after`), and where those differ from the published
campaign it records the missing rows from that record, exactly as they would have been
written (same change id, time and person: same keys and values, so a repair that races
another, or repeats rows that did arrive, changes nothing in the compacted topic or in
ClickHouse). Campaigns published before the history existed are recorded the same way, as
``created`` at their newest record (by ``unknown`` when the record names nobody).

Change ids are offsets of the campaigns topic: the two topics live and are reset together.
A history that names an offset the campaigns topic has not reached (the campaigns topic was
recreated, the changes topic kept) is refused, since new ids would overwrite old rows.
Applies are meant to run one at a time: two at once each record the change from the
campaigns they read.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafka import KafkaProducer, TopicPartition
from pydantic import ValidationError

from forgood.audit.history import ORDER, diff_terms, term_changes, terms_after, terms_of
from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ConfigError, ProducerError
from forgood.domain.kafka import ReadTimeout, make_consumer, make_producer, read_to_end
from forgood.domain.records import CampaignChange
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics

log = logging.getLogger(__name__)

#: Header of a campaign record naming who applied it (UTF-8).
APPLIED_BY_HEADER = "forgood-applied-by"
#: ``changed_by`` of a record that names nobody (published before the history existed).
UNKNOWN_APPLIER = "unknown"
#: Longest name accepted as ``by``.
MAX_BY = 200
#: Longest wait for each step (reading a topic to its end, the acknowledgements of a send).
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PublishedCampaign:
    """The newest record of a campaign on the campaigns topic: the campaign, the record's
    offset, its timestamp (epoch s) and who applied it."""

    campaign: Campaign
    offset: int
    at: int
    by: str


@dataclass(frozen=True)
class ApplyReport:
    """What :func:`publish_campaigns` did: the campaigns published, the changes recorded for
    them (in order), and ``repaired`` — rows an earlier publish had left unrecorded."""

    campaigns: tuple[Campaign, ...]
    changes: list[CampaignChange] = field(default_factory=list)
    repaired: list[CampaignChange] = field(default_factory=list)

    def changes_of(self, campaign_id: str) -> list[CampaignChange]:
        return [c for c in self.changes if c.campaign_id == campaign_id]


def applier(by: str | None = None) -> str:
    """Who applies: ``by`` stripped, or the OS user (:func:`getpass.getuser`). Raises
    :class:`ConfigError` when it is empty, longer than :data:`MAX_BY`, has control characters,
    or no OS user can be found."""
    if by is None:
        try:
            by = getpass.getuser()
        except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry for the uid
            raise ConfigError("cannot tell who is applying (no login name): pass --by NAME") from None
    name = by.strip()
    if not name:
        raise ConfigError("--by: the name of who applies must not be empty")
    if len(name) > MAX_BY:
        raise ConfigError(f"--by: at most {MAX_BY} characters (got {len(name)})")
    if any(not ch.isprintable() for ch in name):
        raise ConfigError(f"--by: {name!r} has control characters")
    return name


# --- reading ---------------------------------------------------------------------------------

def _read(settings: Settings, topic: str, timeout_s: float, client_id: str) -> tuple[list, int]:
    """Every record of one-partition ``topic`` to its end as of the call, and that end offset
    (0 for a topic the broker does not know). Blocks up to ``timeout_s``; raises
    :class:`ProducerError` if the end is not reached in time or the topic has more partitions."""
    consumer = make_consumer(settings, client_id=client_id)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if len(partitions) > 1:
            raise ProducerError(f"{topic} has {len(partitions)} partitions; it must have one "
                                "(its offsets are the campaign change ids)")
        try:
            records = read_to_end(consumer, topic, timeout_s=timeout_s)
        except ReadTimeout:
            raise ProducerError(f"could not read {topic} to its end in {timeout_s} s") from None
        end = consumer.position(TopicPartition(topic, 0)) if partitions else 0
        return records, end or 0
    finally:
        consumer.close()


def read_published(settings: Settings, timeout_s: float = 10.0) -> tuple[dict[str, PublishedCampaign], int]:
    """The newest record of every campaign on the campaigns topic by id (a tombstone removes
    its key's campaign), and the topic's end offset, as of the call. Blocks up to ``timeout_s``
    (plus connecting); raises :class:`ProducerError` if the end was not reached in time or a
    record is not a campaign."""
    records, end = _read(settings, settings.campaigns_topic, timeout_s, "forgood-campaign-reader")
    published: dict[str, PublishedCampaign] = {}
    for record in records:
        key = record.key.decode()
        if record.value is None:
            published.pop(key, None)
            continue
        try:
            campaign = Campaign.from_json(record.value)
        except ValidationError as exc:
            raise ProducerError(f"{settings.campaigns_topic} offset {record.offset} (key {key!r}) "
                                f"is not a campaign: {exc.errors()[0]['msg']}") from None
        by = dict(record.headers or ()).get(APPLIED_BY_HEADER, b"").decode(errors="replace")
        published[key] = PublishedCampaign(campaign, record.offset, record.timestamp // 1000, by or UNKNOWN_APPLIER)
    return published, end


def read_campaigns(settings: Settings, timeout_s: float = 10.0) -> dict[str, Campaign]:
    """The campaigns on the compacted campaigns topic by id, read from its beginning to its end
    as of the call (a tombstone removes its key's campaign); empty if the topic does not exist.

    Blocks up to ``timeout_s`` (plus connecting); raises :class:`ProducerError` if the end was
    not reached in time (or no broker answered in time), or a record is not a campaign.
    """
    return {cid: p.campaign for cid, p in read_published(settings, timeout_s)[0].items()}


def read_history(settings: Settings, timeout_s: float = 10.0) -> dict[str, list[CampaignChange]]:
    """Every change recorded on the changes topic, by campaign id (as of the call). Blocks up
    to ``timeout_s``; raises :class:`ProducerError` if the end was not reached in time. A
    record that is not a change, or of a term :data:`~forgood.audit.history.ORDER` does not
    know, is skipped with a warning (the sink skips the former too)."""
    records, _end = _read(settings, settings.changes_topic, timeout_s, "forgood-changes-reader")
    history: dict[str, list[CampaignChange]] = defaultdict(list)
    for record in records:
        if record.value is None:
            continue
        try:
            change = CampaignChange.from_bytes(record.value)
        except (ValueError, TypeError) as exc:
            log.warning("skipping a record on %s at offset %d that is not a campaign change: %s",
                        settings.changes_topic, record.offset, exc)
            continue
        if change.what not in ORDER:
            log.warning("skipping a change of unknown term %r on %s at offset %d",
                        change.what, settings.changes_topic, record.offset)
            continue
        history[change.campaign_id].append(change)
    return dict(history)


# --- deciding what to record ---------------------------------------------------------------

def missing_changes(published: Mapping[str, PublishedCampaign],
                    history: Mapping[str, Sequence[CampaignChange]]) -> list[CampaignChange]:
    """The rows that take each campaign's recorded terms (its history folded,
    :func:`~forgood.audit.history.terms_after`) to its published terms, attributed to its
    newest record (offset, time, who): empty when the history is complete. Pure."""
    missing = []
    for cid, p in published.items():
        rows = diff_terms(terms_after(history.get(cid, ())), terms_of(p.campaign))
        missing += [CampaignChange(cid, p.offset, what, old, new, p.at, p.by) for what, old, new in rows]
    return missing


def check_change_ids(history: Mapping[str, Sequence[CampaignChange]], end: int, topic: str) -> None:
    """Raise :class:`ProducerError` when a recorded change id is not below the campaigns
    topic's end offset ``end``: the topic was recreated and new ids would overwrite old rows."""
    newest = max((c.change_id for changes in history.values() for c in changes), default=-1)
    if newest >= end:
        raise ProducerError(f"the campaign history names change {newest} but {topic} ends at offset {end}: "
                            "was the campaigns topic recreated without the changes topic? Nothing published")


# --- publishing ------------------------------------------------------------------------------

def _send_changes(producer: KafkaProducer, settings: Settings, changes: Sequence[CampaignChange],
                  timeout_s: float) -> None:
    """Send ``changes`` to the changes topic and block until every one is acknowledged
    (raises the first failure)."""
    futures = [producer.send(settings.changes_topic, key=c.key(), value=c.to_bytes()) for c in changes]
    producer.flush(timeout=timeout_s)
    for future in futures:
        future.get(timeout=timeout_s)


def publish_campaigns(settings: Settings, campaigns: Sequence[Campaign], by: str | None = None) -> ApplyReport:
    """Publish every campaign and record the changes of their terms; block until all are
    acknowledged, and return what was recorded.

    ``by`` names who applies (default: the OS user; see :func:`applier`). In order: create the
    topics if needed; read the published campaigns and the recorded history; record what an
    earlier publish left unrecorded (see the module); publish the campaigns and wait for their
    acknowledgements; publish one change per changed term of each and wait again. Blocks up to
    about :data:`TIMEOUT_S` per step. Raises :class:`ConfigError` for a bad ``by`` (nothing
    sent); before anything is sent, kafka-python's errors as it raises them
    (``KafkaTimeoutError`` when no broker answers) and :class:`ProducerError` for a topic not
    read to its end or an unusable history; once sending began, :class:`ProducerError` for any
    failure: then the campaigns may or may not be published, and the next publish records
    whatever history is missing.
    """
    by = applier(by)
    ensure_topics(settings)
    published, end = read_published(settings)
    history = read_history(settings)
    check_change_ids(history, end, settings.campaigns_topic)
    repaired = missing_changes(published, history)
    if repaired:
        log.warning("recording %d change(s) an earlier publish left unrecorded (campaigns %s)", len(repaired),
                    ", ".join(sorted({c.campaign_id for c in repaired})))
    producer = make_producer(settings, client_id="forgood-campaigns")
    try:
        if repaired:
            _send_changes(producer, settings, repaired, TIMEOUT_S)
        now_ms = time.time_ns() // 1_000_000
        headers = [(APPLIED_BY_HEADER, by.encode())]
        futures = [
            producer.send(settings.campaigns_topic, key=c.id.encode(), value=c.to_json(), headers=headers,
                          timestamp_ms=now_ms)
            for c in campaigns
        ]
        producer.flush(timeout=TIMEOUT_S)
        offsets = [future.get(timeout=TIMEOUT_S).offset for future in futures]
        current = {cid: p.campaign for cid, p in published.items()}
        changes = []
        for campaign, offset in zip(campaigns, offsets, strict=True):
            changes += [CampaignChange(campaign.id, offset, what, old, new, now_ms // 1000, by)
                        for what, old, new in term_changes(current.get(campaign.id), campaign)]
            current[campaign.id] = campaign
        if changes:
            _send_changes(producer, settings, changes, TIMEOUT_S)
    except Exception as exc:
        raise ProducerError(f"publishing campaigns failed: {exc}") from exc
    finally:
        producer.close(timeout=5)
    return ApplyReport(tuple(campaigns), changes, repaired)
