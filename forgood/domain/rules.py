"""Donation rules: pure functions from counts to money, in integer minor units.

The cap rule is order-independent, so any replay of the same events gives the same money:

* total donation = ``min(videos * price, cap)``;
* the donation of minute *m* is the part of the capped running total that minute adds when
  minutes are taken in event-time order:
  ``min(cap, price * S(m)) - min(cap, price * S(m-1))`` where ``S(m)`` counts the campaign's
  videos in minutes up to and including *m*. Minute donations therefore always add up to
  the total, and a late event counts in its own minute (it may move the capped remainder
  between minutes, but never changes the total beyond the cap).
"""

from __future__ import annotations

from collections.abc import Mapping


def total_donation(videos: int, price_minor: int, cap_minor: int | None) -> int:
    """Donation in minor units for ``videos`` counted videos: ``videos * price`` up to the cap."""
    raised = videos * price_minor
    return raised if cap_minor is None else min(raised, cap_minor)


def minute_donations(
    minute_videos: Mapping[int, int], price_minor: int, cap_minor: int | None
) -> dict[int, int]:
    """Donation per minute (keys as given) under the event-time cap rule above."""
    if cap_minor is None:
        return {minute: videos * price_minor for minute, videos in minute_videos.items()}
    result: dict[int, int] = {}
    given = 0
    for minute in sorted(minute_videos):
        part = min(minute_videos[minute] * price_minor, cap_minor - given)
        result[minute] = part
        given += part
    return result


def percent_of(value: int, whole: int | None) -> float | None:
    """``value`` as a percentage of ``whole`` (None when there is no whole to compare with)."""
    if not whole:
        return None
    return 100.0 * value / whole
