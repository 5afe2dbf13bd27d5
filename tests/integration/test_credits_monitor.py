"""The built credits monitor under the Lambda emulator, and the template's alarms judged on what it printed.

CloudWatch itself is not here: `alarm_state` applies an alarm's namespace, metric, dimensions, statistic,
threshold and comparison, taken from the SAM-translated template, to the EMF lines the built function
wrote, as CloudWatch does for one period. So the test fails if the function and the alarm drift apart.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from typing import Any

import pytest

from local.gradium_standin import Reply
from local.lambda_emulator import LambdaEmulator, function_code
from local.paths import EVENTS_DIR
from local.services import STANDIN_API_KEY, LocalServices, local_services
from tests.template.translation import translate

STACK_NAME = "gradium-token-broker-test"
THRESHOLD = 1000
SCHEDULED = json.loads((EVENTS_DIR / "credits_monitor" / "scheduled.json").read_text())
COMPARISONS = {
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
}
STATISTICS = {"Minimum": min, "Maximum": max, "Sum": sum}


@pytest.fixture(scope="module")
def alarms() -> dict[str, dict[str, Any]]:
    resources = translate(CreditsAlarmThreshold=str(THRESHOLD))["Resources"]
    return {name: resources[name]["Properties"] for name in ("CreditsLowAlarm", "CreditsCheckFailingAlarm")}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalServices]:
    with local_services() as running:
        yield running


def run_monitor(stack: LocalServices, **overrides: str) -> tuple[dict[str, Any], str]:
    """One scheduled run of the built monitor in a fresh environment: its result and its log."""
    env = stack.provision(
        STANDIN_API_KEY,
        {"POWERTOOLS_SERVICE_NAME": STACK_NAME, "AWS_LAMBDA_FUNCTION_NAME": "CreditsMonitorFunction"}
        | overrides,
        "CreditsMonitorFunction",
    )
    with LambdaEmulator(
        env, function_code("CreditsMonitorFunction"), "broker.credits_monitor.handler"
    ) as emulator:
        result = emulator.invoke(SCHEDULED).response
        return result, emulator.logs()


def alarm_state(alarm: dict[str, Any], logs: str) -> str:
    """ALARM, OK or INSUFFICIENT_DATA for one period of the EMF datapoints in `logs`."""
    dimensions = {
        d["Name"]: STACK_NAME if d["Value"] == {"Ref": "AWS::StackName"} else d["Value"]
        for d in alarm["Dimensions"]
    }
    values: list[float] = []
    for line in logs.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            names = {metric["Name"] for metric in directive["Metrics"]}
            published = [{name: record[name] for name in group} for group in directive["Dimensions"]]
            watched = directive["Namespace"] == alarm["Namespace"] and alarm["MetricName"] in names
            if watched and dimensions in published:
                values += record[alarm["MetricName"]]
    if not values:
        return "OK" if alarm["TreatMissingData"] == "notBreaching" else "INSUFFICIENT_DATA"
    threshold = THRESHOLD if alarm["Threshold"] == {"Ref": "CreditsAlarmThreshold"} else alarm["Threshold"]
    breached = COMPARISONS[alarm["ComparisonOperator"]](STATISTICS[alarm["Statistic"]](values), threshold)
    return "ALARM" if breached else "OK"


def test_a_balance_under_the_threshold_fires_the_credits_alarm(stack: LocalServices, alarms) -> None:
    assert stack.standin is not None
    stack.standin.credits = {"remaining_credits": 640, "allocated_credits": 100_000}
    result, logs = run_monitor(stack)
    assert result == {"status": "ok", "remaining_credits": 640.0, "allocated_credits": 100000.0}
    assert alarm_state(alarms["CreditsLowAlarm"], logs) == "ALARM"
    assert alarm_state(alarms["CreditsCheckFailingAlarm"], logs) == "OK"
    assert STANDIN_API_KEY not in logs


def test_a_balance_over_the_threshold_keeps_it_quiet(stack: LocalServices, alarms) -> None:
    assert stack.standin is not None
    stack.standin.credits = {"remaining": 84_250, "allocated": 100_000}  # the published client's spelling
    result, logs = run_monitor(stack)
    assert result["remaining_credits"] == 84250.0
    assert alarm_state(alarms["CreditsLowAlarm"], logs) == "OK"


def test_a_failing_check_fires_its_own_alarm_and_leaves_the_credits_alarm_as_it_was(
    stack: LocalServices, alarms
) -> None:
    assert stack.standin is not None
    stack.standin.queue(*[Reply(503, b"error from server 1011")] * 3)
    result, logs = run_monitor(stack)
    assert result == {"status": "failed", "error": "Gradium token service failed"}
    assert alarm_state(alarms["CreditsCheckFailingAlarm"], logs) == "ALARM"
    assert alarm_state(alarms["CreditsLowAlarm"], logs) == "INSUFFICIENT_DATA"  # TreatMissingData: missing
    assert "error from server" not in logs and STANDIN_API_KEY not in logs


def test_a_hanging_gradium_ends_in_the_budget_not_the_lambda_timeout(stack: LocalServices, alarms) -> None:
    assert stack.standin is not None
    stack.standin.queue(Reply(200, {"remaining_credits": 5}, drip=0.5))
    result, logs = run_monitor(stack, GRADIUM_TIMEOUT_SECONDS="2")
    assert result == {"status": "failed", "error": "Gradium token service timed out"}
    assert alarm_state(alarms["CreditsCheckFailingAlarm"], logs) == "ALARM"
