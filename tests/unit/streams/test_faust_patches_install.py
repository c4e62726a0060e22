"""streams.faust_patches.install: nothing patched on import, every patch installed once by the
app factory, and a refusal -- naming what is wrong -- on library versions other than the
verified ones or on a patch target that is missing or changed upstream."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from faust.transport import consumer as faust_consumer

from forgood.domain.errors import PatchError, StreamError
from streams import faust_patches
from streams.faust_patches import offset_jumps, targets, undecodable_batches, versions
from tests.support.processes import REPO

faust_patches.install()
PATCHES = faust_patches.PATCHES
ROOT = REPO


def marked_by(value) -> str | None:
    return getattr(value, targets.MARK, None)


@pytest.fixture
def fresh(monkeypatch):
    """This process as it was before any patch was installed (undone after the test)."""
    for patch in reversed(PATCHES):  # undecodable_batches' _add_gap -> offset_jumps' -> Faust's
        for target in patch.TARGETS:
            if marked_by(getattr(target.owner, target.name, None)) == patch.__name__:
                monkeypatch.setattr(target.owner, target.name, patch.UPSTREAM[target.key])
        monkeypatch.setattr(patch, "_installed", False)
    return monkeypatch


def installed_by(patch) -> list[str]:
    """The targets ``patch`` replaced (those marked with its name)."""
    return [t.key for t in patch.TARGETS if marked_by(getattr(t.owner, t.name, None)) == patch.__name__]


# --- installation ----------------------------------------------------------------------------


def test_nothing_is_patched_on_import_and_the_app_factory_installs_every_patch():
    # In a fresh interpreter: this module has installed the patches here already.
    code = """if True:
        import json
        import streams.app, streams.worker, streams.faust_patches as fp
        from streams.faust_patches import targets
        from forgood.domain.settings import Settings
        def state():
            return {p.__name__: [p._installed, sorted(t.key for t in p.TARGETS
                    if getattr(getattr(t.owner, t.name, None), targets.MARK, None))] for p in fp.PATCHES}
        before = state()
        streams.app.make_faust_app(Settings(), "x", "x")
        print(json.dumps([before, state()]))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    before, after = json.loads(done.stdout)
    assert before == {p.__name__: [False, []] for p in PATCHES}, "a patch was installed on import"
    assert all(installed for installed, _ in after.values()), "streams/app.py must call faust_patches.install()"
    assert after["streams.faust_patches.stale_ack"][1] == ["Consumer.ack"]
    assert after["streams.faust_patches.undecodable_batches"][1] == [
        "Consumer._add_gap", "PartitionRecords.__init__", "ThreadDelegateConsumer._getmany"]


def test_install_installs_each_patch_once(fresh):
    faust_patches.install()
    replaced = {p.__name__: installed_by(p) for p in PATCHES}
    values = {(t.owner, t.name): getattr(t.owner, t.name) for p in PATCHES for t in p.TARGETS}
    faust_patches.install()
    assert values == {(t.owner, t.name): getattr(t.owner, t.name) for p in PATCHES for t in p.TARGETS}
    assert replaced == {
        "streams.faust_patches.stale_ack": ["Consumer.ack"],
        "streams.faust_patches.offset_jumps": [],  # wrapped since by undecodable_batches
        "streams.faust_patches.never_committed": ["AIOKafkaConsumerThread.seek_to_committed"],
        "streams.faust_patches.offset_reset_paths": ["AIOKafkaConsumerThread.verify_event_path"],
        "streams.faust_patches.recovery_seek": ["Recovery.on_recovery_completed", "Recovery._resume_streams"],
        "streams.faust_patches.eager_first_step": ["Consumer.wait_first"],
        "streams.faust_patches.undecodable_batches": [
            "PartitionRecords.__init__", "ThreadDelegateConsumer._getmany", "Consumer._add_gap"],
        "streams.faust_patches.batch_monitor": [],  # a subclass: checks its targets, replaces none
    }
    assert marked_by(undecodable_batches.UPSTREAM["Consumer._add_gap"]) == offset_jumps.__name__


# --- the version guard -----------------------------------------------------------------------


def test_the_verified_versions_are_the_installed_ones():
    assert versions.installed_versions() == versions.VERIFIED
    versions.require()


@pytest.mark.parametrize("package", sorted(versions.VERIFIED))
@pytest.mark.parametrize("found", ["9.9.9", None], ids=["other-version", "not-installed"])
def test_install_refuses_a_version_it_was_not_verified_with(fresh, package, found):
    fresh.setattr(versions, "installed_versions", lambda: {**versions.VERIFIED, package: found})
    expected = (f"{package} {found or '(not installed)'} is installed, the patches were verified with "
                f"{package} {versions.VERIFIED[package]}")
    with pytest.raises(PatchError, match="refuse to install") as refused:
        faust_patches.install()
    assert expected in str(refused.value) and isinstance(refused.value, StreamError)
    for patch in PATCHES:  # each patch installed on its own refuses too, and nothing is patched
        with pytest.raises(PatchError):
            patch.install()
        assert not installed_by(patch) and not patch._installed  # noqa: SLF001 (the patch's own flag)


# --- the target checks -----------------------------------------------------------------------

ALL_TARGETS = [(patch, target) for patch in PATCHES for target in patch.TARGETS]
FUNCTIONS = [(patch, target) for patch, target in ALL_TARGETS if target.signature]


def ids(pairs) -> list[str]:
    return [f"{patch.__name__.rsplit('.', 1)[1]}:{target.key}" for patch, target in pairs]


def break_target(monkeypatch, target, value) -> None:
    """Set ``target`` to ``value``, once what it must already be patched by is installed."""
    for patch in PATCHES:
        if patch.__name__ == target.patched_by:
            patch.install()
    monkeypatch.setattr(target.owner, target.name, value)


def refused(patch) -> str:
    with pytest.raises(PatchError) as raised:
        patch.install()
    assert not installed_by(patch) and not patch._installed  # noqa: SLF001 (the patch's own flag)
    return str(raised.value)


@pytest.mark.parametrize(("patch", "target"), ALL_TARGETS, ids=ids(ALL_TARGETS))
def test_a_patch_refuses_a_target_that_is_gone(fresh, patch, target):
    break_target(fresh, target, None)
    message = refused(patch)
    assert f"{patch.__name__} refuses to install: {target.where} is missing" in message


@pytest.mark.parametrize(("patch", "target"), FUNCTIONS, ids=ids(FUNCTIONS))
def test_a_patch_refuses_a_target_whose_parameters_changed(fresh, patch, target):
    if target.coroutine:
        async def changed(self, renamed): ...
    else:
        def changed(self, renamed): ...
    if target.patched_by:
        setattr(changed, targets.MARK, target.patched_by)
    break_target(fresh, target, changed)
    message = refused(patch)
    assert f"{target.where} has parameters (self, renamed), expected {target.signature}" in message


@pytest.mark.parametrize(("patch", "target"), FUNCTIONS, ids=ids(FUNCTIONS))
def test_a_patch_refuses_a_target_that_is_no_longer_the_same_kind_of_function(fresh, patch, target):
    original = getattr(target.owner, target.name)
    if target.coroutine:
        def changed(*args, **kwargs): ...
    else:
        async def changed(*args, **kwargs): ...
    changed.__signature__ = targets.inspect.signature(original)
    if target.patched_by:
        setattr(changed, targets.MARK, target.patched_by)
    break_target(fresh, target, changed)
    assert f"{target.where} is no longer a" in refused(patch)


def test_a_renamed_add_gap_is_found_although_offset_jumps_never_calls_it(fresh):
    fresh.delattr(faust_consumer.Consumer, "_add_gap")
    message = refused(offset_jumps)
    assert "faust.transport.consumer.Consumer._add_gap is missing (renamed or removed upstream?)" in message


def test_undecodable_batches_wraps_offset_jumps_and_refuses_anything_else(fresh):
    fresh.setattr(offset_jumps, "_installed", True)  # claimed, but Faust's own _add_gap is in place
    message = refused(undecodable_batches)
    assert "Consumer._add_gap is not patched by streams.faust_patches.offset_jumps" in message


def test_a_target_patched_twice_is_refused(fresh):
    faust_patches.install()
    fresh.setattr(offset_jumps, "_installed", False)  # as if installed again by another copy
    message = refused(offset_jumps)
    assert "Consumer._add_gap is patched by streams.faust_patches.undecodable_batches, expected None" in message
