"""`make sam-env ENV=default`: `sam local invoke` against a deployed stack's secret, quota table and Gradium.

Writes two files under .aws-sam/ (readable by you alone):
- `sam-env-<ENV>.json`, the --env-vars file: each function's variables exactly as the stack set them
  (Lambda GetFunctionConfiguration of the functions the stack's outputs name), so the local run reads the
  stack's secret and counts in its quota table;
- `signed_in-<ENV>.json`, events/signed_in.json with the claims that stack accepts (its app client as
  `aud`, its RequiredGroup, its pool as `iss`).
It needs cloudformation:DescribeStacks and lambda:GetFunctionConfiguration; the invoke then needs what the
function's role has (secretsmanager:GetSecretValue on the secret, dynamodb:UpdateItem on the table) and
calls the real Gradium with the stack's key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from local.paths import EVENTS_DIR, REPO, shown
from ops.preflight import PreflightError, aws_session, error_code, friendly
from ops.private_json import write_private_json
from ops.samconfig import add_env_argument, load
from ops.stacks import deployed_stack

OUT_DIR = REPO / ".aws-sam"
SIGNED_IN_EVENT = EVENTS_DIR / "signed_in.json"
# Each function of the template and the stack output that names it.
FUNCTION_OUTPUTS = {
    "TokenFunction": "TokenFunctionName",
    "CreditsMonitorFunction": "CreditsMonitorFunctionName",
}


@friendly("sam-env")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_env_argument(parser)
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    env = load(args.env)
    session = aws_session(env.region)
    stack = deployed_stack(session, env)
    variables = function_variables(session.client("lambda"), stack.outputs)
    event = signed_in_event(variables["TokenFunction"], stack.outputs.get("UserPoolId", ""), env.region)
    env_file = write_private_json(args.out_dir / f"sam-env-{env.name}.json", variables)
    event_file = write_private_json(args.out_dir / f"signed_in-{env.name}.json", event)
    print(
        f"{shown(env_file)}: the variables of {', '.join(variables)} in {env.stack_name} ({env.region})\n"
        f"{shown(event_file)}: a signed-in caller that stack accepts\n\n"
        "Then (it reads the stack's secret with your credentials and calls Gradium with its key):\n"
        f"  sam local invoke TokenFunction -e {shown(event_file)} --env-vars {shown(env_file)} "
        f"--region {env.region}"
    )
    return 0


def function_variables(lambda_: Any, outputs: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each deployed function's environment variables, by the template's name for it."""
    variables = {}
    for function, output in FUNCTION_OUTPUTS.items():
        name = outputs.get(output)
        if not name:
            if function == "TokenFunction":
                raise PreflightError(f"the stack has no {output} output: deploy this version of the template")
            continue  # no credits monitor (CreditsAlarmThreshold=0)
        try:
            config = lambda_.get_function_configuration(FunctionName=name)
        except ClientError as exc:
            raise PreflightError(
                f"Lambda refused GetFunctionConfiguration on {name} ({error_code(exc)})"
            ) from None
        variables[function] = dict(config.get("Environment", {}).get("Variables", {}))
    return variables


def signed_in_event(variables: dict[str, str], user_pool_id: str, region: str) -> dict[str, Any]:
    """events/signed_in.json with claims the deployed function accepts: its first allowed app client, its
    required group, its pool (what API Gateway's authorizer would have put there)."""
    event = json.loads(SIGNED_IN_EVENT.read_text())
    claims = event["requestContext"]["authorizer"]["claims"]
    client_ids = [part.strip() for part in variables.get("ALLOWED_CLIENT_IDS", "").split(",") if part.strip()]
    if client_ids:
        claims["aud"] = client_ids[0]
    if variables.get("REQUIRED_GROUP"):
        claims["cognito:groups"] = variables["REQUIRED_GROUP"]
    if user_pool_id:
        claims["iss"] = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    return event


if __name__ == "__main__":
    sys.exit(main())
