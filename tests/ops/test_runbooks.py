"""docs/runbooks.md: an entry for every alarm the template can raise, and every command it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.template.translation import SOURCE

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = (REPO / "docs" / "runbooks.md").read_text()


def test_every_alarm_has_a_runbook_entry() -> None:
    alarms = [name for name, r in SOURCE["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 9
    headings = set(re.findall(r"^### (\w+)$", RUNBOOKS, re.MULTILINE))
    assert set(alarms) == headings


def test_every_make_target_the_runbooks_name_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.MULTILINE))
    named = set(re.findall(r"make ([a-z-]+) ENV=", RUNBOOKS))
    assert named and named <= targets


def test_the_readme_links_the_runbooks() -> None:
    assert "(docs/runbooks.md)" in (REPO / "README.md").read_text()
