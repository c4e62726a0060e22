"""Row versions that any owner of a campaign computes the same way, whatever its clock.

A published row (totals or minute) is an absolute value; ClickHouse's ``argMax`` views and
``forgood serve`` keep the row with the highest ``version`` per key. The version must
therefore grow with what the row is computed *from*, never with when or where it was
computed: after a rebalance the campaign's new owner may run on a host whose clock is minutes
behind the old owner's, and its newer rows must still win.

A row of a campaign is a function of exactly two things the owner has applied:

* the campaign's ledger, which only grows, record by record, in offset order of the campaign's
  partition of ``forgood-campaign-videos``: summarised by ``applied_offset``, the offset of the
  last record that added something to the campaign (-1 before any);
* the campaign's terms (price, cap, currency), summarised by ``campaign_offset``, the offset
  in the campaigns topic of the campaign record the row was priced with (a compacted topic
  keyed by campaign: a newer record of the same campaign always has a greater offset).

Both only ever grow, so ordering versions by ``(applied_offset, campaign_offset)`` orders rows
the way their inputs grew: a later state has a greater or equal version, on any host; two
owners that applied the same inputs publish the same version *and* the same values. The pair
is packed into one UInt64 above :data:`BASE` (2**62), which is greater than any version that
forgood ≤ 0.1 wrote (wall-clock nanoseconds until the year 2116), so a deployment upgraded in
place keeps its tables: the first row published after the upgrade wins over the old ones.
"""

from __future__ import annotations

from forgood.domain.errors import StreamError

#: Versions start here (see the module docstring).
BASE = 1 << 62
#: Bits for the campaign record's offset (16.7 million updates of one campaign).
CAMPAIGN_BITS = 24
#: ``applied_offset`` may reach 2**38 - 2 (2.7e11 records in one partition).
APPLIED_LIMIT = (1 << (62 - CAMPAIGN_BITS)) - 1


class VersionOverflow(StreamError):
    """An offset is beyond what a version can order (never expected in practice)."""


def row_version(applied_offset: int, campaign_offset: int) -> int:
    """The version of every row of a campaign whose ledger was applied up to
    ``applied_offset`` (-1: nothing yet) and that is priced by the campaign record at
    ``campaign_offset`` (-1: unknown, e.g. read without offsets). Pure; raises
    :class:`VersionOverflow` when an offset is outside the packed range."""
    applied, campaign = applied_offset + 1, campaign_offset + 1
    if not 0 <= applied < APPLIED_LIMIT or not 0 <= campaign < (1 << CAMPAIGN_BITS):
        raise VersionOverflow(
            f"cannot build a row version from applied offset {applied_offset} and campaign "
            f"record offset {campaign_offset}"
        )
    return BASE + (applied << CAMPAIGN_BITS) + campaign
