"""Each client language's test program, run on one scenario at a time against `make serve` and the stand-ins:
tests/clients/test_clients.py sets the stand-ins up for the scenario and checks what the servers saw.

TypeScript: client.test.mjs under Node's test runner, with an ID token the Python side signed in for;
Kotlin: clients/kotlin's BrokerScenarios under JUnit, and Swift: clients/swift's BrokerScenarios under
XCTest (in the Swift root: tests/clients/toolchains.py), each signing in over HTTP at the local Cognito.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from local.gradium_standin import GradiumStandIn
from local.local_pool import LOCAL_PASSWORD
from local.paths import REPO
from local.serve import LocalApi
from local.speech_standin import SpeechStandIn
from tests.clients.toolchains import in_swift_root, java

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node") or "node"  # Node 20+: its WebSocket global needs --experimental-websocket
KOTLIN_MODULE = REPO / "clients" / "kotlin"
SWIFT_PACKAGE = REPO / "clients" / "swift"


@dataclass
class Servers:
    api: LocalApi
    gradium: GradiumStandIn
    speech: SpeechStandIn
    username: str  # a user of the local pool, password LOCAL_PASSWORD


def run_program(command: list[str | Path], passed: str, env: dict[str, str] | None = None) -> None:
    """Run a client's test program; it must exit 0 and print `passed` (a pattern: how its runner says that
    the tests it was given ran and passed, so a filter that matched nothing fails)."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and re.search(passed, output, re.M), output


@dataclass
class TypeScriptClient:
    compiled: Path  # gradium-client.js

    def run(self, servers: Servers, scenario: str, username: str | None = None) -> None:
        env = os.environ | {
            "CLIENT_MODULE": self.compiled.as_uri(),
            "TOKEN_URL": servers.api.token_url,
            "SPEECH_URL": servers.speech.base_url,
            "ID_TOKEN": servers.api.id_token(username or servers.username),
        }
        command = [NODE, "--experimental-websocket", "--test", f"--test-name-pattern=^{scenario}:"]
        run_program([*command, HERE / "client.test.mjs"], r"^# pass 1$", env)


def native_env(servers: Servers, username: str | None) -> dict[str, str]:
    """What a native client's scenarios read: the local API and speech URLs, and whom to sign in as."""
    info = servers.api.info
    return os.environ | {
        "TOKEN_URL": servers.api.token_url,
        "SPEECH_URL": servers.speech.base_url,
        "COGNITO_ENDPOINT": info["cognito_endpoint"],
        "CLIENT_ID": info["app_client_id"],
        "USERNAME": username or servers.username,
        "PASSWORD": LOCAL_PASSWORD,
    }


@dataclass
class KotlinClient:
    classpath: list[Path]  # the compiled module and its tests, and what they run against

    def command(self, main_class: str, *args: str) -> list[str | Path]:
        return [java() or "java", "-cp", os.pathsep.join(map(str, self.classpath)), main_class, *args]

    def run(self, servers: Servers, scenario: str, username: str | None = None) -> None:
        command = self.command("gradium.broker.BrokerScenariosKt", camel_case(scenario))
        run_program(command, r"^ran 1, failed 0$", native_env(servers, username))


@dataclass
class SwiftClient:
    """On Linux the scenarios speak through the tests' LoopbackWebSocket.swift: Linux's Foundation
    (swift-corelibs-foundation 6.0.3 over libcurl 8.14) loses the message that comes right before a close
    (an `error`, the final `end_of_stream`: seen here) and hands over only the first 4,092 bytes of a larger
    frame, then fails the socket (an 80 ms audio chunk is 10 KB: swift-corelibs-foundation#5255). Apple's
    URLSessionWebSocketTask, the package's default, has neither fault."""

    xctest: Path  # the package's built tests, a path inside the Swift root

    def command(self, tests: str) -> list[str | Path]:
        """The xctest executable on `tests` (a class, or class/method), run inside the Swift root."""
        return [*in_swift_root(), self.xctest, f"GradiumBrokerTests.{tests}"]

    def run(self, servers: Servers, scenario: str, username: str | None = None) -> None:
        method = camel_case(scenario)
        command = self.command(f"BrokerScenarios/test{method[0].upper()}{method[1:]}")
        run_program(command, r"Executed 1 test, with 0 failures", native_env(servers, username))


def camel_case(scenario: str) -> str:
    """client.test.mjs's "long wait" or "refused sign-in" as the Kotlin method's longWait, refusedSignIn."""
    first, *rest = re.split(r"[ -]", scenario)
    return first + "".join(word.capitalize() for word in rest)
