"""A short run of `make bench`, so the benchmark keeps working: it must produce every figure."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import bench


def test_a_short_benchmark_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert bench.main(["--rounds", "1", "--warm", "5", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results["variants"]) == {"floor", "function", "function_quota_off"}
    function = results["variants"]["function"]
    assert function["warm_calls"] == 5
    assert function["peak_rss_mb"] > 10
    assert function["upstream_connections_per_100_warm"] == 0  # the cold call's connection serves them all
    assert function["secret_reads_per_100_warm"] == 0
    assert results["sizes"]["layer_zip"] > 0
    assert set(results["cost_per_million_tokens"]) == {"128MB", "256MB", "512MB", "1024MB"}
    audio = results["time_to_first_audio"]
    # A prefetched token skips the token's round trip (the simulated delay and the broker's own work).
    assert audio["saved_ms"] > audio["network_delay_ms"] / 2, audio
