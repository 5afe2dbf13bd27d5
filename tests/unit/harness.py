"""What the handler tests share: a Lambda context and the reading of what a handler printed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class FakeContext:
    function_name: str = "TokenFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:TokenFunction"
    aws_request_id: str = "5f0c3c1e-0000-4000-8000-000000000001"


def json_records(output: str) -> list[dict[str, Any]]:
    """The JSON lines a handler printed: Powertools' log records and EMF metric blobs."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def emitted_metrics(output: str) -> dict[str, Any]:
    """Every EMF blob the handler printed, merged: metric name -> values, plus dimensions and metadata."""
    merged: dict[str, Any] = {}
    for record in json_records(output):
        if "_aws" in record:
            merged.update(record)
    return merged
