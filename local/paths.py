"""Where things are in this checkout: the repository, sam build's output, the events."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO / ".aws-sam" / "build"
EVENTS_DIR = REPO / "events"
