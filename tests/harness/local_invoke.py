"""`make invoke`: run an event through the built function under the Lambda emulator, without Docker.

Secrets Manager is a moto server holding the API key; Gradium is the local stand-in, or the real
service when GRADIUM_API_KEY is set in the environment. Prints the function's response, then the
cold-start and warm latencies of the built function.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

from tests.harness.lambda_emulator import LambdaEmulator
from tests.harness.local_stack import EVENTS_DIR, STANDIN_API_KEY, local_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--event", type=Path, default=EVENTS_DIR / "signed_in.json", help="event file")
    parser.add_argument("--warm", type=int, default=20, help="warm invocations to time after the first")
    args = parser.parse_args(argv)

    real_key = os.environ.get("GRADIUM_API_KEY", "").strip()
    event = json.loads(args.event.read_text())
    with local_stack(with_standin=not real_key) as stack:
        overrides = {"GRADIUM_TOKEN_URL": "https://api.gradium.ai/api/api-keys/token"} if real_key else {}
        env = stack.provision(real_key or STANDIN_API_KEY, overrides)
        gradium = "api.gradium.ai (GRADIUM_API_KEY is set)" if real_key else "the local stand-in"
        print(f"Invoking the built TokenFunction with {args.event.name}; Gradium is {gradium}.\n")
        with LambdaEmulator(env) as emulator:
            cold = emulator.invoke(event)
            print(json.dumps(cold.response, indent=2))
            warm_calls = [emulator.invoke(event) for _ in range(args.warm)]
            init_ms = emulator.init_duration_ms()
    print(f"\ncold start: {cold.elapsed_ms:.0f} ms (init {init_ms or 0:.0f} ms)")
    if warm_calls:
        warm = [call.elapsed_ms for call in warm_calls]
        statuses = Counter(call.response.get("statusCode") for call in warm_calls)
        answered = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
        p50, slowest = statistics.median(warm), max(warm)
        print(f"warm: p50 {p50:.1f} ms, max {slowest:.1f} ms over {len(warm)} calls ({answered})")
        if 429 in statuses:
            print("(429: the per-user quota, TOKENS_PER_USER_PER_MINUTE in events/env.json, at work)")
    return 0 if 200 <= cold.response.get("statusCode", 500) < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
