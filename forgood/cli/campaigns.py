"""Reading the published campaigns back (``forgood campaigns list``, ``produce --simulate``,
``forgood totals``). Publishing them is :mod:`producers.campaigns`."""

from __future__ import annotations

from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ProducerError
from forgood.domain.kafka import ReadTimeout, read_topic
from forgood.domain.settings import Settings


def read_campaigns(settings: Settings, timeout_s: float = 10.0) -> dict[str, Campaign]:
    """The campaigns on the compacted campaigns topic by id, read from its beginning to its end
    as of the call (a tombstone removes its key's campaign); empty if the topic does not exist.

    Blocks up to ``timeout_s`` (plus connecting); raises :class:`ProducerError` if the end was
    not reached in time (or no broker answered in time).
    """
    try:
        records = read_topic(settings, settings.campaigns_topic, timeout_s=timeout_s,
                             client_id="forgood-campaign-reader")
    except ReadTimeout:
        raise ProducerError(f"could not read {settings.campaigns_topic} to its end in {timeout_s} s") from None
    campaigns: dict[str, Campaign] = {}
    for record in records:
        key = record.key.decode()
        if record.value is None:
            campaigns.pop(key, None)
        else:
            campaigns[key] = Campaign.from_json(record.value)
    return campaigns
