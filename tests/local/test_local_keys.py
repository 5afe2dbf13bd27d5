"""A real Gradium key for local runs comes from a file or a hidden prompt, never the environment, and a
minted token is shown as its fingerprint only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.invoke import redacted
from local.real_gradium import gradium_key

REPO = Path(__file__).resolve().parents[2]
KEY = "gd_live_0123456789abcdefghijklmnop"


def test_a_key_in_the_environment_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="GRADIUM=real") as refused:
        gradium_key(True, {"GRADIUM_API_KEY": KEY})
    assert KEY not in str(refused.value)
    with pytest.raises(ValueError):  # even when the stand-in was asked for: it would be silently ignored
        gradium_key(False, {"GRADIUM_API_KEY": KEY})


def test_the_stand_in_needs_no_key() -> None:
    assert gradium_key(False, {}) is None


def test_a_key_file_is_read_and_checked(tmp_path: Path) -> None:
    key_file = tmp_path / "gradium-key"
    key_file.write_text(KEY + "\n")
    assert gradium_key(True, {"GRADIUM_API_KEY_FILE": str(key_file)}) == KEY
    key_file.write_text("gd_pasted twice " + KEY)
    with pytest.raises(ValueError, match="refused") as refused:
        gradium_key(True, {"GRADIUM_API_KEY_FILE": str(key_file)})
    assert KEY not in str(refused.value)
    with pytest.raises(ValueError, match="could not be read"):
        gradium_key(True, {"GRADIUM_API_KEY_FILE": str(tmp_path / "missing")})


def test_make_serve_and_invoke_refuse_a_key_in_the_environment() -> None:
    env = os.environ | {
        "GRADIUM_API_KEY": KEY,
    }
    for module in ("local.serve", "local.invoke"):
        result = subprocess.run(
            [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
        )
        assert result.returncode == 2, module
        assert "GRADIUM_API_KEY is not read" in result.stderr and KEY not in result.stdout + result.stderr


def test_a_minted_token_is_printed_as_its_fingerprint() -> None:
    response = {"statusCode": 200, "body": json.dumps({"token": "gtk_secret_value", "expires_at": "x"})}
    body = json.loads(redacted(response)["body"])
    assert "gtk_secret_value" not in json.dumps(body)
    assert body["token"].startswith("<redacted: 16 chars, sha256 ") and body["expires_at"] == "x"
    refused = {"statusCode": 401, "body": json.dumps({"error": "Unauthorized"})}
    assert redacted(refused) == refused


def test_make_invoke_prints_no_token() -> None:
    """The built function under the emulator with the stand-in: its answer is printed, its token is not."""
    env = dict(os.environ)
    env.pop("GRADIUM_API_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "local.invoke", "--warm", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"statusCode": 200' in result.stdout and "<redacted: " in result.stdout
    assert "gtk_" not in result.stdout + result.stderr  # the stand-in's tokens all start so


def test_no_doc_puts_a_key_on_a_command_line() -> None:
    for doc in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = doc.read_text()
        assert "GRADIUM_API_KEY=gd_" not in text, doc.name
        assert '--secret-string "$' not in text, doc.name
