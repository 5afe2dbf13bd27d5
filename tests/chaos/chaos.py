"""`make chaos`: the built function under the Lambda emulator while its dependencies misbehave.

Secrets Manager and DynamoDB are a moto server behind a fault-injecting proxy (errors, or answers that
never come); Gradium is the stand-in, down or refusing the key. Each scenario runs a fresh execution
environment and measures what callers see. Prints a table; tests/chaos/test_chaos.py asserts each row.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from local.gradium_standin import Reply
from local.http_server import BackgroundHTTPServer
from local.lambda_emulator import LambdaEmulator
from local.paths import EVENTS_DIR
from local.services import STANDIN_API_KEY, LocalServices, local_services

SIGNED_IN = json.loads((EVENTS_DIR / "signed_in.json").read_text())
SERVICES = {"secretsmanager.": "secretsmanager", "DynamoDB_20120810.": "dynamodb"}
INJECTED_ERRORS = {
    "secretsmanager": b'{"__type": "InternalServiceError", "message": "injected by the chaos proxy"}',
    "dynamodb": b'{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"}',
}


class FaultProxy(BackgroundHTTPServer):
    """Forwards AWS JSON-protocol calls to moto, unless told to fail a service: "error" answers 500,
    "hang" never answers (until the caller gives up). Counts the calls each service received."""

    def __init__(self, moto_url: str) -> None:
        self.target = urlsplit(moto_url)
        self.faults: dict[str, str | None] = {"secretsmanager": None, "dynamodb": None}
        self.calls: Counter[str] = Counter()
        self._release = threading.Event()
        super().__init__(self._handler())

    def stop(self) -> None:
        self._release.set()
        super().stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                service = next((name for prefix, name in SERVICES.items() if target.startswith(prefix)), "")
                proxy.calls[service] += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy.faults.get(service)
                if fault == "hang":
                    proxy._release.wait(30)
                    self.close_connection = True
                    return
                if fault == "error":
                    self._answer(
                        500, {"Content-Type": "application/x-amz-json-1.1"}, INJECTED_ERRORS[service]
                    )
                    return
                upstream = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=10)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    upstream.request("POST", self.path, body, headers)
                    answer = upstream.getresponse()
                    self._answer(answer.status, dict(answer.getheaders()), answer.read())
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in (
                        "content-length",
                        "connection",
                        "transfer-encoding",
                        "server",
                        "date",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@dataclass
class Calls:
    """What callers saw over a run of invocations."""

    statuses: list[int] = field(default_factory=list)
    millis: list[float] = field(default_factory=list)

    def add(self, emulator: LambdaEmulator) -> dict[str, Any]:
        invocation = emulator.invoke(SIGNED_IN)
        self.statuses.append(invocation.response.get("statusCode", 0))
        self.millis.append(invocation.elapsed_ms)
        return invocation.response

    def count(self, status: int) -> int:
        return self.statuses.count(status)

    def p50(self) -> float:
        return statistics.median(self.millis)


class Chaos:
    """One moto server behind the fault proxy, and a Gradium stand-in, for every scenario."""

    def __init__(self, stack: LocalServices, proxy: FaultProxy) -> None:
        self.stack = stack
        self.proxy = proxy
        assert stack.standin is not None
        self.gradium = stack.standin

    def environment(
        self, api_key: str = STANDIN_API_KEY, quota: bool = False, **overrides: str
    ) -> dict[str, str]:
        names = {
            "GRADIUM_API_KEY_SECRET_ID": f"chaos/{uuid.uuid4().hex[:8]}",
            "QUOTA_TABLE_NAME": f"chaos-{uuid.uuid4().hex[:8]}" if quota else "",
            "TOKENS_PER_USER_PER_MINUTE": "10000" if quota else "0",
            "TOKENS_PER_USER_PER_DAY": "0",
        }
        if not quota:  # no limit at all, the daily ceiling included: no table
            names["DAILY_TOKEN_CEILING"] = "0"
        env = self.stack.provision(api_key, names)
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = self.proxy.base_url
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.proxy.base_url
        return env | overrides

    def reset(self) -> None:
        self.proxy.faults = {"secretsmanager": None, "dynamodb": None}
        self.gradium.script.clear()

    def secrets_manager_fails_past_the_ttl(self, fault: str, requests: int = 20) -> dict[str, Any]:
        """The key was read; then Secrets Manager errors (or hangs) and the cache's TTL passes."""
        self.reset()
        with LambdaEmulator(self.environment(SECRET_CACHE_TTL_SECONDS="1")) as emulator:
            assert Calls().add(emulator)["statusCode"] == 200
            self.proxy.faults["secretsmanager"] = fault
            time.sleep(1.1)
            before = self.proxy.calls["secretsmanager"]
            calls = Calls()
            for _ in range(requests):
                calls.add(emulator)
        self.reset()
        return {
            "requests": requests,
            "answered_200": calls.count(200),
            "secrets_manager_calls": self.proxy.calls["secretsmanager"] - before,
            "slowest_ms": max(calls.millis),
            "p50_ms": calls.p50(),
        }

    def revoked_key(self, requests: int = 20) -> dict[str, Any]:
        """Gradium refuses the key and nobody has rotated it in the secret."""
        self.reset()
        with LambdaEmulator(self.environment("gd_revoked_not_rotated")) as emulator:
            before, gradium_before = self.proxy.calls["secretsmanager"], len(self.gradium.requests)
            calls = Calls()
            for _ in range(requests):
                calls.add(emulator)
        return {
            "requests": requests,
            "answered_502": calls.count(502),
            "secrets_manager_calls": self.proxy.calls["secretsmanager"] - before,
            "gradium_calls": len(self.gradium.requests) - gradium_before,
            "p50_ms": calls.p50(),
        }

    def gradium_down_then_back(self, cooldown: float = 2.0, while_open: int = 10) -> dict[str, Any]:
        """Gradium answers 503 to everything; then it recovers."""
        self.reset()
        env = self.environment(GRADIUM_BREAKER_COOLDOWN_SECONDS=str(cooldown), GRADIUM_TIMEOUT_SECONDS="3")
        self.gradium.queue(*[Reply(503, b"down")] * 1000)
        with LambdaEmulator(env) as emulator:
            failing = Calls()
            while len(failing.statuses) < 50 and failing.add(emulator)["statusCode"] != 503:
                pass
            gradium_before = len(self.gradium.requests)
            open_calls = Calls()
            for _ in range(while_open):
                open_calls.add(emulator)
            gradium_while_open = len(self.gradium.requests) - gradium_before
            self.gradium.script.clear()  # Gradium is back
            time.sleep(cooldown)
            recovery = Calls()
            while len(recovery.statuses) < 20 and recovery.add(emulator)["statusCode"] != 200:
                pass
        return {
            "requests_until_open": len(failing.statuses) - 1,
            "failing_p50_ms": statistics.median(failing.millis[:-1]),
            "open_answers_503": open_calls.count(503),
            "open_p50_ms": open_calls.p50(),
            "gradium_calls_while_open": gradium_while_open,
            "requests_until_recovery": len(recovery.statuses),
        }

    def dynamodb_down(self, fail_open: bool) -> dict[str, Any]:
        """The quota table hangs: fail closed (503) or fail open (the token anyway)."""
        self.reset()
        env = self.environment(quota=True, QUOTA_FAIL_OPEN="true" if fail_open else "false")
        with LambdaEmulator(env) as emulator:
            Calls().add(emulator)  # warm
            self.proxy.faults["dynamodb"] = "hang"
            calls = Calls()
            for _ in range(3):
                calls.add(emulator)
        self.reset()
        return {"statuses": sorted(set(calls.statuses)), "p50_ms": calls.p50()}

    def soak(self, requests: int = 5000) -> dict[str, Any]:
        """Many warm calls in one environment: memory and latency must not drift."""
        self.reset()
        with LambdaEmulator(self.environment()) as emulator:
            calls = Calls()
            for index in range(requests):
                calls.add(emulator)
                if index == requests // 10:
                    early_rss = emulator.runtime_peak_rss_mb() or 0.0
            late_rss = emulator.runtime_peak_rss_mb() or 0.0
        tenth = max(requests // 10, 1)
        early, late = sorted(calls.millis[1:tenth]), sorted(calls.millis[-tenth:])
        return {
            "requests": requests,
            "answered_200": calls.count(200),
            "rss_growth_mb": late_rss - early_rss,
            "early_p99_ms": early[int(len(early) * 0.99) - 1],
            "late_p99_ms": late[int(len(late) * 0.99) - 1],
        }


def run_chaos(run: Callable[[Chaos], Any]) -> Any:
    """Run `run` with a Chaos harness: moto, the fault proxy in front of it, the Gradium stand-in."""
    with local_services() as stack, FaultProxy(stack.moto_url) as proxy:
        return run(Chaos(stack, proxy))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--soak", type=int, default=5000, help="warm calls of the soak run")
    args = parser.parse_args(argv)

    def every_scenario(chaos: Chaos) -> dict[str, Any]:
        return {
            "Secrets Manager erroring past the TTL": chaos.secrets_manager_fails_past_the_ttl("error"),
            "Secrets Manager hanging past the TTL": chaos.secrets_manager_fails_past_the_ttl("hang"),
            "revoked key, not rotated": chaos.revoked_key(),
            "Gradium down, then back": chaos.gradium_down_then_back(),
            "DynamoDB hanging, fail closed": chaos.dynamodb_down(fail_open=False),
            "DynamoDB hanging, fail open": chaos.dynamodb_down(fail_open=True),
            f"{args.soak} warm calls": chaos.soak(args.soak),
        }

    results = run_chaos(every_scenario)
    width = max(len(name) for name in results)
    for name, row in results.items():
        cells = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
        print(f"{name:<{width}}  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
