"""The one version guard of forgood's Faust patches.

Every patch in this package replaces or wraps code of faust-streaming, aiokafka or
mode-streaming, and reads private state of their objects. Each was written against, and
tested with, the versions in :data:`VERIFIED`; a different version may have moved, renamed or
fixed what a patch relies on, silently. :func:`require` (called by every patch's ``install``)
refuses to start with any other installed version: re-read the upstream code named in each
patch's docstring, run the contract tests (``tests/unit/streams/test_faust_patches_*.py``), then
update :data:`VERIFIED`.
"""

from __future__ import annotations

import importlib.metadata

from forgood.domain.errors import PatchError

#: Distribution name -> the version every patch in this package was verified with.
VERIFIED: dict[str, str] = {
    "faust-streaming": "0.15.3",
    "aiokafka": "0.14.0",
    "mode-streaming": "0.7.1",
}


def installed_versions() -> dict[str, str | None]:
    """The installed version of each package in :data:`VERIFIED` (None: not installed)."""
    found: dict[str, str | None] = {}
    for package in VERIFIED:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def require() -> None:
    """Raise :class:`PatchError` unless every package is installed at its verified version."""
    found = installed_versions()
    wrong = [
        f"{package} {found[package] or '(not installed)'} is installed, the patches were verified with "
        f"{package} {verified}"
        for package, verified in VERIFIED.items()
        if found[package] != verified
    ]
    if wrong:
        raise PatchError(
            "forgood's Faust patches (streams.faust_patches) refuse to install: " + "; ".join(wrong) + ". "
            "Install the verified versions, or re-check each patch against the new code (see its "
            "docstring and its contract test) and update streams/faust_patches/versions.py."
        )
