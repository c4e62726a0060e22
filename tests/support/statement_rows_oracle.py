"""The statement's figures from audit rows, one video at a time: the oracle of the statement rules'
tests and of the statements' integration test (written apart from forgood.audit.statement).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def day_of(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).date().isoformat()

def oracle(rows, price: int, cap: int | None, settlements, cut: int) -> dict:
    """The statement's figures, one video at a time."""
    before = [r for r in rows if r.created_at < cut]
    counted = sorted((r for r in before if r.status == "counted"), key=lambda r: (r.created_at, r.video_id))
    running = 0
    days: dict[str, list[int]] = {}
    for r in counted:
        part = price if cap is None else max(0, min(price, cap - running))
        running += part
        day = days.setdefault(day_of(r.created_at), [0, 0])
        day[0] += 1
        day[1] += part
    settled = [s for s in settlements if s.as_of <= cut]
    paid = 0
    for s in settled:
        paid += s.paid_minor
    ids = "\n".join(sorted(r.video_id for r in counted)).encode()
    return {
        "videos": len(counted),
        "participants": len({r.creator_id for r in counted}),
        "removed": len([r for r in before if r.status == "removed"]),
        "outside_window": len([r for r in before if r.status == "outside_window"]),
        "donation_minor": running,
        "settled_minor": paid,
        "due_minor": running - paid,
        "days": [{"day": d, "videos": v, "donation_minor": m} for d, (v, m) in sorted(days.items())],
        "settlements": [s.as_of for s in settled],
        "video_ids_sha256": hashlib.sha256(ids).hexdigest(),
        "video_lines": [(r.video_id, r.created_at, r.views) for r in counted],
    }
