"""`make invoke`'s command line: a bad event is one line, before anything starts (the built function's runs
are tests/integration's; through Docker, tests/sam_docker's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("docker", [[], ["--docker"]])
def test_a_missing_event_is_one_line(docker: list[str]) -> None:
    result = invoke("--event", "events/does-not-exist.json", *docker)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "make invoke: cannot read events/does-not-exist.json (No such file or directory); "
        "the events are in events/\n"
    )


def test_an_event_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{'not': json}")
    result = invoke("--event", str(event))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"make invoke: {event} is not JSON (an event is a JSON object, as in events/)\n"
