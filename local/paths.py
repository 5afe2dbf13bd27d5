"""Where things are in this checkout: the repository, sam build's output, the events."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO / ".aws-sam" / "build"
EVENTS_DIR = REPO / "events"


def shown(path: Path) -> str:
    """`path` relative to the repository when inside it: what a user types from its root."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
