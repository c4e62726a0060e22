"""What each patch checks before it installs: its targets are still what it was written against.

A patch names every attribute it replaces, wraps or relies on as a :class:`Target`: the owner
(a class or module), the name, and for a function the parameters it had on the verified
versions (annotations left out) and whether it is a coroutine function. :func:`check` reads
them all before the patch changes anything and raises :class:`PatchError` if one is missing
(renamed or removed), has other parameters, or is not the function kind expected: an upstream
change is then found at start-up, not as lost events.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forgood.domain.errors import PatchError

#: Attribute set on every replacement function: the name of the patch module that installed it.
MARK = "__forgood_patch__"


@dataclass(frozen=True)
class Target:
    """An attribute a patch replaces, wraps or relies on, as it was on the verified versions."""

    owner: Any  # a class or a module
    name: str
    #: The parameters, e.g. ``"(self, tp, offset_from, offset_to)"``; None: not a function.
    signature: str | None = None
    coroutine: bool = False
    #: The forgood patch expected to be installed on it already (wrapped, not replaced).
    patched_by: str | None = None

    @property
    def where(self) -> str:
        """The full dotted name, for messages: ``faust.transport.consumer.Consumer.ack``."""
        owner = self.owner
        prefix = owner.__name__ if inspect.ismodule(owner) else f"{owner.__module__}.{owner.__qualname__}"
        return f"{prefix}.{self.name}"

    @property
    def key(self) -> str:
        """The short name a patch's ``UPSTREAM`` uses: ``Consumer.ack`` (a module's: its full name)."""
        owner = self.owner
        return f"{owner.__name__ if inspect.ismodule(owner) else owner.__qualname__}.{self.name}"


def parameters(function: Callable) -> str:
    """``inspect.signature`` of ``function`` without annotations: ``(self, *coros, timeout=None)``."""
    signature = inspect.signature(function)
    plain = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=plain, return_annotation=inspect.Signature.empty))


def check(patch: str, targets: list[Target]) -> dict[str, Any]:
    """Every target's current value, by name (``Owner.name``), once all of them passed."""
    found: dict[str, Any] = {}
    for target in targets:
        value = getattr(target.owner, target.name, None)
        problem = _problem(target, value)
        if problem:
            raise PatchError(
                f"{patch} refuses to install: {target.where} {problem}. The patch was written against "
                f"that code on the versions in streams/faust_patches/versions.py; re-check it against "
                f"the installed code (see the patch's docstring and contract test)."
            )
        found[target.key] = value
    return found


def _problem(target: Target, value: Any) -> str | None:
    if value is None:
        return "is missing (renamed or removed upstream?)"
    by = getattr(value, MARK, None)
    if by != target.patched_by:
        return f"is patched by {by}, expected {target.patched_by}" if by else (
            f"is not patched by {target.patched_by}, which must be installed first"
        )
    if target.signature is None:
        return None
    if not callable(value):
        return f"is no longer a function (found {type(value).__name__})"
    if inspect.iscoroutinefunction(value) != target.coroutine:
        kind = "a coroutine function" if target.coroutine else "a plain function"
        return f"is no longer {kind}"
    found = parameters(value)
    if found != target.signature:
        return f"has parameters {found}, expected {target.signature}"
    return None


def replace(owner: Any, name: str, new: Callable, patch: str, doc: str) -> None:
    """Set ``owner.name`` to ``new`` (marked as installed by ``patch``, documented by ``doc``)."""
    new.__doc__ = doc
    setattr(new, MARK, patch)
    setattr(owner, name, new)
