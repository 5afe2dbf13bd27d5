"""This checkout's signing key for the local pool: made once with mode 0600, read back the same, refused
when others can read it."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.cognito_endpoint import KEY_ID, SigningKeyExposed, signing_key


def test_the_key_is_made_once_owner_only_and_read_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "local-signing-key.json"
    made = signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.kid == KEY_ID and made.is_private
    assert signing_key(path).thumbprint() == made.thumbprint()


def test_a_key_file_others_can_read_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "local-signing-key.json"
    signing_key(path)
    path.chmod(0o644)
    with pytest.raises(SigningKeyExposed, match="chmod 600"):
        signing_key(path)


def test_make_serves_started_together_all_get_the_one_key(tmp_path: Path) -> None:
    """Two make serve (or two test workers) at once: neither reads a half-written key, one key wins."""
    path = tmp_path / "local-signing-key.json"
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: signing_key(path).thumbprint(), range(8)))
    assert len(set(keys)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
