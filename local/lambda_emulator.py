"""Run the built function (`sam build` output) as Lambda runs it, without Docker.

The AWS Lambda Runtime Interface Emulator that `sam local invoke` runs in its container ships in the
aws-sam-cli wheel; with awslambdaric it runs the built function dir and layer on this host. The
runtime's Python is a separate virtualenv holding only what the python3.13 Lambda runtime has
(boto3 and the runtime client), so a package missing from the layer fails here as it would in AWS.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.network import free_port
from local.paths import BUILD_DIR, REPO

RUNTIME_PYTHON = Path(os.environ.get("LAMBDA_RUNTIME_PYTHON", REPO / ".venv-lambda" / "bin" / "python"))
INVOKE_PATH = "/2015-03-31/functions/function/invocations"

# What Lambda itself sets; the function's own variables come from the caller.
LAMBDA_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": "TokenFunction",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_TIMEOUT": "25",
    # /var/task is read-only in Lambda: nothing the function imports is compiled to a kept .pyc.
    "PYTHONDONTWRITEBYTECODE": "1",
}


def function_code(logical_id: str) -> tuple[Path, Path]:
    """A built function's directory (/var/task) and its layer's python/ dir (/opt/python)."""
    return BUILD_DIR / logical_id, BUILD_DIR / "DependenciesLayer" / "python"


FUNCTION_CODE = function_code("TokenFunction")
FUNCTION_HANDLER = "broker.app.handler"  # the template's TokenFunction Handler (tests/template checks it)


@dataclass(frozen=True)
class Invocation:
    """The function's answer and the wall-clock time the emulator took to give it."""

    response: dict[str, Any]
    elapsed_ms: float


def rie_binary() -> Path:
    """The emulator binary that aws-sam-cli ships for this machine's architecture."""
    import samcli

    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    binary = Path(samcli.__file__).parent / "local" / "rapid" / f"aws-lambda-rie-{arch}"
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} not found: is aws-sam-cli installed?")
    return binary


class LambdaEmulator:
    """One Lambda execution environment: the first invoke is a cold start, later ones are warm."""

    def __init__(
        self, env: dict[str, str], code: tuple[Path, ...] = FUNCTION_CODE, handler: str = FUNCTION_HANDLER
    ) -> None:
        """`code` is the function dir (/var/task) then its layers' python/ dirs (/opt/python)."""
        for path in code:
            if not path.is_dir():
                raise FileNotFoundError(f"{path} is missing: run `sam build` (or `make build`) first")
        self.code = code
        if not RUNTIME_PYTHON.exists():
            raise FileNotFoundError(f"{RUNTIME_PYTHON} is missing: run `make venv` first")
        self.handler = handler
        self.env = env
        self.port = free_port()
        self._log_path = Path(tempfile.mkstemp(prefix="rie-", suffix=".log")[1])
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self) -> LambdaEmulator:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(Path.home()),
            **LAMBDA_ENV,
            **self.env,
            # /var/task then /opt/python, as in Lambda; the runtime venv plays /var/runtime.
            "PYTHONPATH": os.pathsep.join(str(path) for path in self.code),
        }
        with self._log_path.open("w") as log:
            self._process = subprocess.Popen(
                [
                    str(rie_binary()),
                    "--runtime-interface-emulator-address",
                    f"127.0.0.1:{self.port}",
                    # Its internal Runtime API defaults to 127.0.0.1:9001; a port of its own lets
                    # several environments (a test's, `make serve`'s) run side by side.
                    "--runtime-api-address",
                    f"127.0.0.1:{free_port()}",
                    str(RUNTIME_PYTHON),
                    "-m",
                    "awslambdaric",
                    self.handler,
                ],
                cwd=self.code[0],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_for_port()
        return self

    def invoke(self, event: Any, timeout: float = 60) -> Invocation:
        """POST the event to the emulator, as `sam local invoke` does, and return the answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{INVOKE_PATH}", data=json.dumps(event).encode(), method="POST"
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            payload = answer.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        return Invocation(json.loads(payload), elapsed_ms)

    def logs(self) -> str:
        """Everything the emulator and the function printed so far."""
        return self._log_path.read_text()

    def new_logs(self) -> str:
        """What the emulator and the function printed since the last call."""
        with self._log_path.open() as log:
            log.seek(self._log_offset)
            text = log.read()
            self._log_offset = log.tell()
        return text

    def init_duration_ms(self) -> float | None:
        """The emulator's INIT REPORT duration of the function's init phase, once it ran."""
        for line in self.logs().splitlines():
            if "INIT REPORT(durationMs: " in line:
                return float(line.split("durationMs: ", 1)[1].rstrip(")").strip())
        return None

    def runtime_peak_rss_mb(self) -> float | None:
        """Peak resident memory (VmHWM) of the runtime process the emulator started."""
        if self._process is None:
            return None
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue  # the process ended while we looked
            if fields.get("PPid", "").strip() == str(self._process.pid) and "VmHWM" in fields:
                return int(fields["VmHWM"].split()[0]) / 1024
        return None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, 15)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, 9)
                self._process.wait()
        self._log_path.unlink(missing_ok=True)

    def __enter__(self) -> LambdaEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_for_port(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the emulator exited early:\n{self.logs()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"the emulator did not listen on port {self.port}")
