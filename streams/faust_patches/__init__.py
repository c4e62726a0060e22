"""Every patch forgood applies to Faust, aiokafka and mode, one module per patch.

Nothing is patched on import: :func:`install` is called by the app factory
(:func:`streams.app.make_faust_app`) before the Faust app is created. It first refuses to start
on library versions other than the verified ones (:mod:`.versions`); each patch then checks,
before changing anything, that the code it replaces or wraps is still there with the same
parameters (:mod:`.targets`), and raises :class:`~forgood.domain.errors.PatchError` otherwise.

Lost events or a crashing worker (all found by the test suites):

* :mod:`.stale_ack` -- a message Faust skips during a rebalance is released without being
  acknowledged, and read again (fix 1);
* :mod:`.offset_jumps` -- a jump in fetched offsets is answered by a seek back to the
  committed offsets instead of being marked as acknowledged (fix 2); that seek
  (:mod:`.reseek`, shared with fix 1) runs with the consumer's flow stopped, so the fetch
  loop cannot drop the events it is meant to read again;
* :mod:`.never_committed` -- partitions never committed are sought to their beginning after a
  rebalance (fix 3);
* :mod:`.offset_reset_paths` -- Faust's livelock check skips partitions awaiting an offset
  reset instead of crashing on them (fix 4);
* :mod:`.recovery_seek` -- after recovery, the stream partitions are sought with the consumer's
  flow stopped, so the events fetched meanwhile are not dropped by the resume (fix 5);
* :mod:`.undecodable_batches` -- a record batch that can never be decoded is skipped, logged,
  counted and committed past instead of crash-looping the worker.

Speed, without changing what the worker does:

* :mod:`.eager_first_step` -- the per-message hand-over to a stream runs eagerly instead of
  through four tasks;
* :mod:`.batch_monitor` -- Faust's Prometheus sensor without its per-message bookkeeping.

Private access into Faust's, aiokafka's and mode's objects is allowed in this package only,
each line marked ``# noqa: SLF001 (reason)``. Each patch has a contract test showing the
upstream behaviour and the patched one (``tests/unit/streams/test_faust_patches_*.py``).
"""

from __future__ import annotations

from streams.faust_patches import (
    batch_monitor,
    eager_first_step,
    never_committed,
    offset_jumps,
    offset_reset_paths,
    recovery_seek,
    stale_ack,
    undecodable_batches,
    versions,
)

#: Installed in this order (undecodable_batches wraps offset_jumps' handler).
PATCHES = (
    stale_ack,
    offset_jumps,
    never_committed,
    offset_reset_paths,
    recovery_seek,
    eager_first_step,
    undecodable_batches,
    batch_monitor,
)


def install() -> None:
    """Install every patch once (idempotent). Runs before the Faust app is created.

    Raises :class:`~forgood.domain.errors.PatchError` if faust-streaming, aiokafka or
    mode-streaming is not the verified version, or if a patch's target changed.
    """
    versions.require()
    for patch in PATCHES:
        patch.install()
