"""The clients' servers (make serve's local API, the Gradium token and speech stand-ins) and each client
language, compiled once per session: a test that takes `client` runs for every language."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.demo import CLIENT, compile_typescript
from local.paths import REPO
from local.serve import LocalApi, local_api
from local.speech_standin import SpeechStandIn
from tests.clients.runners import (
    KOTLIN_MODULE,
    SWIFT_PACKAGE,
    KotlinClient,
    Servers,
    SwiftClient,
    TypeScriptClient,
)
from tests.clients.toolchains import NotRoot, ToolchainMissing, compile_kotlin, swift_package

REQUIRED_GROUP = "voice-users"


def guide_code(language: str, suffix: str, folder: Path) -> Path:
    """Each `language` block of docs/clients.md as a source file in `folder`, to be compiled with the
    client: the guide's code is code."""
    page = (REPO / "docs" / "clients.md").read_text()
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", page, re.M | re.S)
    assert blocks, f"docs/clients.md shows no {language}"
    for number, block in enumerate(blocks, 1):
        (folder / f"Guide{number}.{suffix}").write_text(block)
    return folder


@pytest.fixture(scope="session")
def typescript_client(tmp_path_factory: pytest.TempPathFactory) -> TypeScriptClient:
    build = tmp_path_factory.mktemp("typescript")
    compile_typescript(build, CLIENT)
    return TypeScriptClient(build / "gradium-client.js")


@contextlib.contextmanager
def building(language: str) -> Iterator[None]:
    """A client's build: a failed compiler run fails with its output; a missing toolchain skips, saying
    what to install, except under CI (.ci/run installs it: missing there is a failure); not being root
    (the Swift root's chroot) skips anywhere."""
    try:
        yield
    except NotRoot as why:
        pytest.skip(str(why))
    except ToolchainMissing as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the {language} client's toolchain is missing: {missing}")
    except subprocess.CalledProcessError as failed:
        pytest.fail(f"the {language} build failed:\n{failed.stdout}{failed.stderr}")


@pytest.fixture(scope="session")
def kotlin_client(tmp_path_factory: pytest.TempPathFactory) -> KotlinClient:
    guide = guide_code("kotlin", "kt", tmp_path_factory.mktemp("kotlin-guide"))
    with building("Kotlin"):
        return KotlinClient(compile_kotlin(KOTLIN_MODULE, tmp_path_factory.mktemp("kotlin"), guide))


@pytest.fixture(scope="session")
def swift_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwiftClient]:
    guide = guide_code("swift", "swift", tmp_path_factory.mktemp("swift-guide"))
    with building("Swift"), swift_package(SWIFT_PACKAGE, guide) as xctest:
        yield SwiftClient(xctest)


@pytest.fixture(params=["typescript", "kotlin", "swift"])
def client(request: pytest.FixtureRequest) -> TypeScriptClient | KotlinClient | SwiftClient:
    return request.getfixturevalue(f"{request.param}_client")


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    # With a required group, so that a user outside it shows the 403 (the local user is in it).
    with local_api({"RequiredGroup": REQUIRED_GROUP}) as running:
        yield running


@pytest.fixture
def servers(api: LocalApi) -> Iterator[Servers]:
    gradium = api.stack.standin
    assert gradium is not None
    gradium.issued_tokens.clear()
    gradium.script.clear()  # replies a failed or skipped test queued but did not use answer no other test
    # Each test signs in as a user of its own: the module's scenarios take more tokens than one user's
    # per-minute quota, which would otherwise fail whichever scenario comes last within a minute.
    username = f"client-{secrets.token_hex(4)}@example.com"
    api.add_user(username, (REQUIRED_GROUP,))
    speech = SpeechStandIn(gradium.issued_tokens).start()  # a token Gradium did not mint opens no session
    try:
        yield Servers(api, gradium, speech, username)
    finally:
        speech.stop()
