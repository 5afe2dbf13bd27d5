"""`make build` runs `sam build` only when a source changed, and says so in one line (SAM's own 40 lines,
with its advice to run `sam deploy --guided`, go to .aws-sam/build.log)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.build

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "/usr/bin/make"


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_an_up_to_date_build_prints_nothing_and_a_changed_source_rebuilds_in_one_line() -> None:
    make("build")  # whatever state the tree is in, it is built after this
    unchanged = make("build")
    assert (unchanged.returncode, unchanged.stdout, unchanged.stderr) == (0, "", "")
    changed = make("-W", "functions/broker/app.py", "build")  # as if app.py had just been edited
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert changed.stdout.splitlines() == ["sam build: building .aws-sam/build (log: .aws-sam/build.log)"]
    log = (REPO / ".aws-sam" / "build.log").read_text()
    assert "Build Succeeded" in log and "sam deploy --guided" not in changed.stdout


def test_no_python313_is_one_line_saying_how_to_get_one(tmp_path: Path) -> None:
    missing = make(f"VENV={tmp_path}/venv", "PYTHON313=python3.99", f"{tmp_path}/venv/.installed")
    assert missing.returncode != 0
    assert missing.stderr.startswith("make: python3.99 not found: install Python 3.13")
    assert (
        "make PYTHON313=/path/to/python3.13" in missing.stderr and "command not found" not in missing.stderr
    )
