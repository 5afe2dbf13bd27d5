"""`sam local invoke` through SAM CLI's real Docker path: the recipe of docs/local-development.md, line by
line, and `make invoke DOCKER=1`.

What it takes on a machine without an image registry (build-base-image.sh, sam_hostnet.py, beside this
file, from the team's shared tools): a Docker engine (started here if none runs and dockerd can be), a
registry-free stand-in for the Lambda Python 3.13 base image, and the unmodified SAM CLI run with its
containers on the host network. Skipped, saying why, where no Docker engine can run (a failure under CI,
which installs one).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from local.sam_local import ENV_FILE

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOC = REPO / "docs" / "local-development.md"
# The unmodified SAM CLI with its Lambda containers on the host network (see sam_hostnet.py).
SAM = [sys.executable, str(HERE / "sam_hostnet.py")]
ARCHITECTURES = ("x86_64", "arm64")  # the base images this test builds: native, then emulated
MAKE = shutil.which("make") or "make"
DOCKER = shutil.which("docker") or "docker"
BASH = shutil.which("bash") or "/bin/bash"


def _docker_runs() -> bool:
    try:
        return _succeeds([DOCKER, "info"])
    except (OSError, subprocess.SubprocessError):
        return False


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI installs Docker (.ci/run), yet {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running Docker engine: the machine's, or one started here as the shared tools' README says
    (no iptables, no bridge: only loopback traffic is allowed here; host-gateway is then 127.0.0.1)."""
    if _docker_runs():
        yield
        return
    dockerd = shutil.which("dockerd")
    if not dockerd or os.geteuid() != 0:
        _unavailable("no Docker engine runs here and none can be started (dockerd as root)")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [dockerd, "--iptables=false", "--bridge=none", "--host-gateway-ip=127.0.0.1"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _docker_runs():
            if daemon.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"dockerd did not start: {log.read_text()[-500:]}")
            time.sleep(0.5)
        yield
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


@pytest.fixture(scope="module")
def base_images(docker_engine: None) -> None:
    """public.ecr.aws/lambda/python:3.13-<arch>: present, pulled where a registry answers, else the
    stand-in built here (build-base-image.sh, which needs root; once per Docker engine). arm64 on an
    x86_64 machine runs under QEMU, which that script registers."""
    for arch in ARCHITECTURES:
        image = f"public.ecr.aws/lambda/python:3.13-{arch}"
        if _succeeds([DOCKER, "image", "inspect", image]) or _succeeds([DOCKER, "pull", image]):
            continue
        if os.geteuid() != 0:
            _unavailable(f"{image} can be neither pulled nor built here (build-base-image.sh needs root)")
        subprocess.run(
            [BASH, str(HERE / "build-base-image.sh")],
            env=os.environ | {"ARCH": arch, "PIP": f"{sys.executable} -m pip"},
            check=True,
            capture_output=True,
            timeout=900,
        )


def _succeeds(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=300, check=False).returncode == 0


@pytest.fixture
def standins(base_images: None) -> Iterator[subprocess.Popen[str]]:
    """`make standins`, as the docs run it in a terminal of its own; stopped with Ctrl-C."""
    process = subprocess.Popen(
        [MAKE, "--no-print-directory", "standins"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed = []
    assert process.stdout is not None
    for line in process.stdout:
        printed.append(line)
        if "Ctrl-C stops them" in line:
            break
    assert ENV_FILE.exists(), "".join(printed)
    yield process
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)


def documented_invokes() -> list[str]:
    """Every `sam local invoke` line of the docs' section on it, in order."""
    section = DOC.read_text().split("## With Docker: `sam local invoke`")[1].split("\n## ")[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.startswith("sam local invoke")]


def sam_local_invoke(line: str) -> tuple[dict, float]:
    """Run a documented line through the real SAM CLI (its containers on the host network, the local base
    image: --skip-pull-image); its answer and wall time."""
    started = time.monotonic()
    result = subprocess.run(
        [*SAM, *shlex.split(line)[1:], "--skip-pull-image"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), elapsed


def test_the_docs_show_the_recipe_for_each_answer_and_architecture() -> None:
    lines = documented_invokes()
    assert [line.split(" -e ")[1].split()[0] for line in lines] == [
        "events/signed_in.json",
        "events/no_claims.json",
        "events/credits_monitor/scheduled.json",
        "events/signed_in.json",
        ".aws-sam/signed_in-default.json",
    ]
    assert "Architecture=x86_64" in lines[3]


def test_the_documented_recipe_answers_200_401_and_the_credits_check(
    standins: subprocess.Popen[str],
) -> None:
    """Every offline line of the docs, exactly (the dev account's needs an account), under the template's
    arm64 (emulated on an x86_64 machine) and natively on x86_64."""
    signed_in, no_claims, credits, native = documented_invokes()[:4]
    answer, arm64_seconds = sam_local_invoke(signed_in)
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert re.fullmatch(r"gtk_[A-Za-z0-9_-]{32}", body["token"]) and body["expires_at"].endswith("Z")
    answer, _ = sam_local_invoke(no_claims)
    assert (answer["statusCode"], json.loads(answer["body"])) == (401, {"error": "Unauthorized"})
    answer, _ = sam_local_invoke(credits)
    assert answer == {"status": "ok", "remaining_credits": 84250.0, "allocated_credits": 100000.0}
    answer, x86_64_seconds = sam_local_invoke(native)
    assert answer["statusCode"] == 200, answer
    print(f"cold sam local invoke: arm64 {arm64_seconds:.1f} s, x86_64 {x86_64_seconds:.1f} s")


def test_make_standins_removes_its_file_when_stopped(standins: subprocess.Popen[str]) -> None:
    os.killpg(standins.pid, signal.SIGINT)
    standins.wait(timeout=30)
    assert not ENV_FILE.exists()


def test_make_invoke_docker_prints_the_answer_with_the_token_redacted(base_images: None) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [
            MAKE,
            "--no-print-directory",
            "invoke",
            "DOCKER=1",
            "ARCH=x86_64",
            f"SAM={shlex.join(SAM)}",
            "SAM_FLAGS=--skip-pull-image",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    answer = json.loads(result.stdout[result.stdout.index("\n{") : result.stdout.index("\n}") + 2])
    assert answer["statusCode"] == 200
    assert re.fullmatch(r"<redacted: 36 chars, sha256 [0-9a-f]{16}>", json.loads(answer["body"])["token"])
    assert "gtk_" not in result.stdout + result.stderr
    assert re.search(r"sam local invoke: \d+\.\d s", result.stdout)
    print(f"make invoke DOCKER=1 ARCH=x86_64: {time.monotonic() - started:.1f} s")
