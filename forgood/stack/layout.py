"""Where the local stack keeps its files: everything under ``<state_dir>/stack``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from forgood.domain.settings import Settings


@dataclass(frozen=True)
class StackLayout:
    """Absolute paths of the stack's pid files, logs, generated config and data."""

    root: Path

    @classmethod
    def for_settings(cls, settings: Settings) -> StackLayout:
        """``settings.state_dir / "stack"``, made absolute (relative to the current directory)."""
        return cls((Path(settings.state_dir).expanduser() / "stack").resolve())

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "stack.lock"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def work_dir(self, service: str) -> Path:
        """The service's own folder: its working directory, config and data."""
        return self.root / service
