"""The JSON files written for `sam local invoke` (--env-vars files, events): readable by their owner alone."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_private_json(path: Path, content: Any) -> Path:
    """Write `content` to `path` (mode 0600 from its creation on: a file that names a secret or a table is
    nobody else's business), making its directory if needed; return `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(content, out, indent=2)
        out.write("\n")
    return path
