"""Every patch forgood applies to Faust, aiokafka and mode, installed explicitly.

:func:`install` is called by the app factory (:func:`streams.app.make_faust_app`), never on
import. (Being reorganised: one module per patch, each with its version and target checks.)
"""

from __future__ import annotations


def install() -> None:
    """Install every patch once (idempotent). Runs before the Faust app is created."""
    from streams import fast_delivery, faust_fixes, undecodable

    faust_fixes.install()
    fast_delivery.install()
    undecodable.install()
