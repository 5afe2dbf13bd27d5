"""`make bench`: the built function side by side with a floor handler, under the Lambda emulator.

Each round starts a new execution environment per variant (a cold start, init included), then times
warm invocations in it; the variants' rounds are interleaved so machine noise hits them alike. Gradium
is the loopback stand-in and AWS a moto server. Results are ratios to the floor measured in the same
run: these machines are too noisy for absolute times to mean much.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.quota import TokenQuota
from local.lambda_emulator import FUNCTION_CODE, FUNCTION_HANDLER, LambdaEmulator
from local.paths import EVENTS_DIR, REPO
from local.services import STANDIN_API_KEY, LocalServices, local_services
from tests.bench import report

FLOOR_CODE = (Path(__file__).resolve().parent / "floor",)
QUOTA_TABLE = "bench-quota"
TARGETS = {"cold_ratio": 1.25, "warm_p50_ratio": 1.35, "peak_rss_mb": 110.0}

# Public list prices, us-east-1, per the project's notes.
PRICE_API_PER_MILLION = 3.50
PRICE_LAMBDA_REQUESTS_PER_MILLION = 0.20
PRICE_LAMBDA_GB_SECOND_ARM = 0.0000133334
PRICE_SECRETS_PER_10K_CALLS = 0.05
PRICE_DYNAMODB_WRITE_PER_MILLION = 0.625
# The measured function's quota writes per token: the user's item, then the daily ceiling's (quota.py).
QUOTA_WRITES_PER_TOKEN = 2
PRICE_LOGS_PER_GB = 0.50
ASSUMED_GRADIUM_MS = 100.0  # an in-region round trip to api.gradium.ai; the stand-in answers in ~1 ms


@dataclass
class Variant:
    name: str
    code: tuple[Path, ...]
    handler: str
    env: dict[str, str]
    cold_ms: list[float] = field(default_factory=list)
    init_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    billed_warm_ms: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    upstream_connections: int = 0
    secret_reads: int = 0
    warm_calls: int = 0
    log_bytes_per_call: list[float] = field(default_factory=list)
    function_log_bytes_per_call: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        warm = sorted(self.warm_ms)
        return {
            "cold_ms_median": statistics.median(self.cold_ms),
            "init_ms_median": statistics.median(self.init_ms) if self.init_ms else None,
            "warm_p50_ms": percentile(warm, 50),
            "warm_p99_ms": percentile(warm, 99),
            "billed_warm_ms_median": statistics.median(self.billed_warm_ms) if self.billed_warm_ms else None,
            "peak_rss_mb": max(self.peak_rss_mb) if self.peak_rss_mb else None,
            "upstream_connections_per_100_warm": 100 * self.upstream_connections / self.warm_calls,
            "secret_reads_per_100_warm": 100 * self.secret_reads / self.warm_calls,
            "log_bytes_per_warm_call": statistics.median(self.log_bytes_per_call),
            "function_log_bytes_per_warm_call": statistics.median(self.function_log_bytes_per_call),
            "cold_starts": len(self.cold_ms),
            "warm_calls": self.warm_calls,
        }


def percentile(ordered: list[float], pct: float) -> float:
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def run_round(variant: Variant, stack: LocalServices, event: dict[str, Any], warm_calls: int) -> None:
    assert stack.standin is not None
    with LambdaEmulator(variant.env, code=variant.code, handler=variant.handler) as emulator:
        cold = emulator.invoke(event)
        if cold.response.get("statusCode") != 200:
            raise RuntimeError(f"{variant.name}: cold call answered {cold.response}")
        logs_after_cold = len(emulator.logs())
        connections, reads = stack.standin.connections, stack.aws_calls["secretsmanager.GetSecretValue"]
        for _ in range(warm_calls):
            answer = emulator.invoke(event)
            if answer.response.get("statusCode") != 200:
                raise RuntimeError(f"{variant.name}: warm call answered {answer.response}")
            variant.warm_ms.append(answer.elapsed_ms)
        variant.upstream_connections += stack.standin.connections - connections
        variant.secret_reads += stack.aws_calls["secretsmanager.GetSecretValue"] - reads
        variant.warm_calls += warm_calls
        variant.cold_ms.append(cold.elapsed_ms)
        if (init := emulator.init_duration_ms()) is not None:
            variant.init_ms.append(init)
        variant.peak_rss_mb.append(emulator.runtime_peak_rss_mb() or 0.0)
        warm_logs = emulator.logs()[logs_after_cold:]
        variant.billed_warm_ms += [float(m) for m in re.findall(r"\tDuration: ([\d.]+) ms", warm_logs)]
        variant.log_bytes_per_call.append(lambda_log_bytes(warm_logs) / warm_calls)
        variant.function_log_bytes_per_call.append(lambda_log_bytes(warm_logs, platform=False) / warm_calls)


def moto_update_item_p50_ms(stack: LocalServices, calls: int = 200) -> float:
    """The quota's own UpdateItem against moto, from this process: what moto alone costs per check."""
    quota = TokenQuota(QUOTA_TABLE, 10_000, 1_000_000, stack.dynamodb)
    timings = []
    for number in range(calls):
        started = time.perf_counter()
        quota.consume(f"baseline-{number % 10}")
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def http_overhead(calls: int = 30) -> dict[str, float]:
    """p50 of a token over HTTP through `make serve`'s local API against the same function invoked
    straight through the emulator, interleaved, with the quota off: what the gateway layer adds."""
    from local.serve import local_api  # samtranslator and joserfc: loaded only for this figure

    with local_api({"TokensPerUserPerMinute": "0"}) as api:
        token = api.id_token()
        # The same claims the authorizer passes: a sub, and the local pool's app client (ALLOWED_CLIENT_IDS).
        claims = {"sub": "direct", "aud": api.info["app_client_id"]}
        event = {"httpMethod": "POST", "requestContext": {"authorizer": {"claims": claims}}}
        http, direct = [], []
        for _ in range(calls + 1):  # the first pair warms both paths up and is not counted
            request = urllib.request.Request(api.token_url, method="POST", headers={"Authorization": token})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
                answer.read()
            http.append((time.perf_counter() - started) * 1000)
            invocation = api.emulator.invoke(event)
            assert invocation.response["statusCode"] == 200, invocation.response  # like for like
            direct.append(invocation.elapsed_ms)
    http_p50, direct_p50 = statistics.median(http[1:]), statistics.median(direct[1:])
    return {"http_p50_ms": http_p50, "direct_p50_ms": direct_p50, "added_p50_ms": http_p50 - direct_p50}


def time_to_first_audio(rounds: int = 7, network_delay_ms: float = 150) -> dict[str, float]:
    """Median milliseconds from a tap to the first audio chunk, through make serve and the speech stand-in,
    without and with the TypeScript client's TokenPrefetch, each token's mint delayed by
    `network_delay_ms` (a simulated round trip to Gradium). The quota's per-minute limit is off: a
    prefetching round mints two tokens."""
    from local.demo import CLIENT, compile_typescript
    from local.serve import local_api  # loaded only for this figure, as http_overhead does
    from local.speech_standin import SpeechStandIn
    from tests.clients.runners import HERE, NODE

    with tempfile.TemporaryDirectory() as build, local_api({"TokensPerUserPerMinute": "0"}) as api:
        compile_typescript(Path(build), CLIENT)
        gradium = api.stack.standin
        assert gradium is not None
        gradium.token_delay = network_delay_ms / 1000
        speech = SpeechStandIn(gradium.issued_tokens).start()
        try:
            env = os.environ | {
                "CLIENT_MODULE": (Path(build) / "gradium-client.js").as_uri(),
                "TOKEN_URL": api.token_url,
                "SPEECH_URL": speech.base_url,
                "ID_TOKEN": api.id_token(),
                "ROUNDS": str(rounds),
            }
            result = subprocess.run(
                [NODE, "--experimental-websocket", HERE / "first_audio.mjs"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
        finally:
            speech.stop()
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    without, prefetched = statistics.median(timings["without"]), statistics.median(timings["prefetched"])
    return {
        "network_delay_ms": network_delay_ms,
        "without_prefetch_ms": without,
        "with_prefetch_ms": prefetched,
        "saved_ms": without - prefetched,
    }


def lambda_log_bytes(logs: str, platform: bool = True) -> int:
    """Bytes CloudWatch Logs would ingest: the function's lines and (unless `platform` is False)
    Lambda's START/END/REPORT lines. The emulator's own "(rapid)" lines are not Lambda's and are left out.
    """
    starts = ("{", "START ", "END ", "REPORT ") if platform else ("{",)
    kept = [line for line in logs.splitlines() if line.startswith(starts)]
    return sum(len(line.encode()) + 1 for line in kept)


def directory_size(path: Path) -> tuple[int, int]:
    """(bytes on disk, bytes zipped as `sam deploy` would upload them), without __pycache__."""
    files = [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(path))
    return sum(f.stat().st_size for f in files), len(buffer.getvalue())


def access_log_bytes() -> int:
    """One access log line with typical values, from the template's own format."""
    template = (REPO / "template.yaml").read_text()
    fmt = template.split("Format: >-", 1)[1].split("Variables:", 1)[0]
    line = " ".join(part.strip() for part in fmt.strip().splitlines())
    return len(re.sub(r"\$context\.[\w.]+", "x" * 24, line).encode()) + 1


def cost_model(function: dict[str, Any], memory_mb: int, gradium_ms: float) -> dict[str, float]:
    """Dollars per million tokens at one memory size."""
    billed_ms = max(1.0, round((function["billed_warm_ms_median"] or 0) + gradium_ms))
    per_million = {
        "api_gateway": PRICE_API_PER_MILLION,
        "lambda_requests": PRICE_LAMBDA_REQUESTS_PER_MILLION,
        "lambda_compute": billed_ms / 1000 * memory_mb / 1024 * PRICE_LAMBDA_GB_SECOND_ARM * 1e6,
        "secrets_manager": function["secret_reads_per_100_warm"]
        / 100
        * 1e6
        / 1e4
        * PRICE_SECRETS_PER_10K_CALLS,
        "dynamodb_quota": PRICE_DYNAMODB_WRITE_PER_MILLION * QUOTA_WRITES_PER_TOKEN,
        "cloudwatch_logs": (function["log_bytes_per_warm_call"] + access_log_bytes())
        * 1e6
        / 1e9
        * PRICE_LOGS_PER_GB,
    }
    per_million["total"] = sum(per_million.values())
    return {name: round(value, 4) for name, value in per_million.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8, help="cold starts per variant")
    parser.add_argument("--warm", type=int, default=100, help="warm calls per cold start")
    parser.add_argument(
        "--out", type=Path, default=report.RECORDED_RUN, help="JSON results (default: the docs' recorded run)"
    )
    args = parser.parse_args(argv)

    for cache in FLOOR_CODE[0].rglob("__pycache__"):  # the floor ships no compiled files either
        shutil.rmtree(cache)
    event = json.loads((EVENTS_DIR / "signed_in.json").read_text())
    with local_services() as stack:
        env = stack.provision(
            STANDIN_API_KEY,
            {
                "QUOTA_TABLE_NAME": QUOTA_TABLE,
                "TOKENS_PER_USER_PER_MINUTE": "10000",
                "TOKENS_PER_USER_PER_DAY": "1000000",
                "DAILY_TOKEN_CEILING": "10000000",
            },
        )
        variants = [
            Variant("floor", FLOOR_CODE, "app.handler", env),
            Variant("function", FUNCTION_CODE, FUNCTION_HANDLER, env),
            Variant(
                "function_quota_off",
                FUNCTION_CODE,
                FUNCTION_HANDLER,
                env
                | {
                    "TOKENS_PER_USER_PER_MINUTE": "0",
                    "TOKENS_PER_USER_PER_DAY": "0",
                    "DAILY_TOKEN_CEILING": "0",
                },
            ),
        ]
        for round_number in range(args.rounds):
            shift = round_number % len(variants)  # rotate who goes first
            for variant in variants[shift:] + variants[:shift]:
                run_round(variant, stack, event, args.warm)
        moto_update_ms = moto_update_item_p50_ms(stack)
    http = http_overhead()
    first_audio = time_to_first_audio(rounds=max(3, min(args.rounds, 7)))

    summary = {v.name: v.summary() for v in variants}
    floor, function, quota_off = summary["floor"], summary["function"], summary["function_quota_off"]
    code_bytes, code_zip = directory_size(FUNCTION_CODE[0])
    layer_bytes, layer_zip = directory_size(FUNCTION_CODE[1].parent)
    results = {
        "rounds": args.rounds,
        "warm_calls_per_round": args.warm,
        "variants": summary,
        "ratios_to_floor": {
            "cold": function["cold_ms_median"] / floor["cold_ms_median"],
            "warm_p50": function["warm_p50_ms"] / floor["warm_p50_ms"],
            "warm_p99": function["warm_p99_ms"] / floor["warm_p99_ms"],
            "cold_quota_off": quota_off["cold_ms_median"] / floor["cold_ms_median"],
            "warm_p50_quota_off": quota_off["warm_p50_ms"] / floor["warm_p50_ms"],
        },
        "quota_check_added_warm_p50_ms": function["warm_p50_ms"] - quota_off["warm_p50_ms"],
        "quota_writes_per_token": QUOTA_WRITES_PER_TOKEN,
        "moto_update_item_p50_ms": moto_update_ms,
        "http_through_make_serve": http,
        "time_to_first_audio": first_audio,
        "sizes": {
            "code_bytes": code_bytes,
            "code_zip": code_zip,
            "layer_bytes": layer_bytes,
            "layer_zip": layer_zip,
        },
        "targets": TARGETS,
    }
    # The floor makes no quota call, so the warm target compares like with like (quota off); what the
    # quota adds is a DynamoDB round trip, reported on its own. The cold target holds with the quota on.
    results["verdicts"] = {
        "cold_ratio": results["ratios_to_floor"]["cold"] <= TARGETS["cold_ratio"],
        "warm_p50_ratio_quota_off": results["ratios_to_floor"]["warm_p50_quota_off"]
        <= TARGETS["warm_p50_ratio"],
        "peak_rss_mb": (function["peak_rss_mb"] or 0) < TARGETS["peak_rss_mb"],
        "one_upstream_connection_per_100": function["upstream_connections_per_100_warm"] <= 1,
        "at_most_one_secret_read_per_100": function["secret_reads_per_100_warm"] <= 1,
    }
    results["cost_per_million_tokens"] = {
        f"{memory}MB": cost_model(function, memory, ASSUMED_GRADIUM_MS) for memory in (128, 256, 512, 1024)
    }
    results["cost_assumptions"] = {
        "assumed_gradium_round_trip_ms": ASSUMED_GRADIUM_MS,
        "access_log_bytes_per_call": access_log_bytes(),
        "note": "warm duration is measured on this x86 machine; the wait on Gradium is assumed, not measured",
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nJSON: {args.out}")
    if args.out.resolve() == report.RECORDED_RUN:
        report.rewrite_page(results)
        print(f"{report.PAGE.relative_to(REPO)}: its table now shows this run")
    return 0


def print_table(results: dict[str, Any]) -> None:
    variants = results["variants"]
    rows = [
        ("cold start, median (ms)", "cold_ms_median", "{:.0f}"),
        ("  of which init (ms)", "init_ms_median", "{:.0f}"),
        ("warm p50 (ms)", "warm_p50_ms", "{:.2f}"),
        ("warm p99 (ms)", "warm_p99_ms", "{:.2f}"),
        ("peak RSS (MB)", "peak_rss_mb", "{:.1f}"),
        ("upstream connections / 100 warm", "upstream_connections_per_100_warm", "{:.1f}"),
        ("Secrets Manager calls / 100 warm", "secret_reads_per_100_warm", "{:.1f}"),
        ("log bytes / warm call", "log_bytes_per_warm_call", "{:.0f}"),
        ("  of which the function's own", "function_log_bytes_per_warm_call", "{:.0f}"),
    ]
    names = list(variants)
    rounds, warm = results["rounds"], results["warm_calls_per_round"]
    print(f"\n{rounds} cold starts and {warm} warm calls each, interleaved\n")
    print(f"{'':36}" + "".join(f"{n:>20}" for n in names))
    for label, key, fmt in rows:
        cells = "".join(
            f"{fmt.format(variants[n][key]) if variants[n][key] is not None else '-':>20}" for n in names
        )
        print(f"{label:36}{cells}")
    ratios = results["ratios_to_floor"]
    print(f"\ncold / floor: {ratios['cold']:.2f} (target <= {TARGETS['cold_ratio']})")
    print(
        f"warm p50 / floor: {ratios['warm_p50_quota_off']:.2f} with the quota off, like the floor "
        f"(target <= {TARGETS['warm_p50_ratio']}); {ratios['warm_p50']:.2f} with it on"
    )
    added, moto = results["quota_check_added_warm_p50_ms"], results["moto_update_item_p50_ms"]
    print(
        f"quota check ({QUOTA_WRITES_PER_TOKEN} UpdateItems: the user's item, the daily ceiling's) adds "
        f"{added:.2f} ms to warm p50; one UpdateItem on moto from a plain process takes {moto:.2f} ms"
    )
    audio = results["time_to_first_audio"]
    print(
        f"tap to first audio (token mint delayed {audio['network_delay_ms']:.0f} ms): "
        f"{audio['without_prefetch_ms']:.0f} ms, {audio['with_prefetch_ms']:.0f} ms with a prefetched token "
        f"({audio['saved_ms']:.0f} ms saved)"
    )
    http = results["http_through_make_serve"]
    print(
        f"a token over HTTP through make serve: p50 {http['http_p50_ms']:.2f} ms against "
        f"{http['direct_p50_ms']:.2f} ms straight to the emulator (+{http['added_p50_ms']:.2f} ms)"
    )
    sizes = results["sizes"]
    print(f"code {sizes['code_bytes'] / 1024:.0f} KiB ({sizes['code_zip'] / 1024:.0f} KiB zipped), ", end="")
    print(f"layer {sizes['layer_bytes'] / 1024:.0f} KiB ({sizes['layer_zip'] / 1024:.0f} KiB zipped)")
    print(
        "targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in results["verdicts"].items())
    )
    print("\n$ per million tokens (Gradium round trip assumed 100 ms):")
    for memory, cost in results["cost_per_million_tokens"].items():
        print(
            f"  {memory:>7}: total {cost['total']:.2f}  ("
            + ", ".join(f"{k} {v}" for k, v in cost.items() if k != "total")
            + ")"
        )


if __name__ == "__main__":
    sys.exit(main())
