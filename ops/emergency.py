"""`make pause` / `make resume`: stop minting tokens at once, and start again.

`pause` sets the token function's reserved concurrency to 0: from the next request on, Lambda runs it
nowhere, API Gateway answers every call with an error at once, nothing reaches Gradium and no credit is
spent (FunctionThrottlesAlarm fires, so everyone on the alarm topic knows). It takes effect in seconds, with
no deploy, no canary and no change to the stack's template. `resume` puts back what the stack's
ReservedConcurrency parameter says (none when it is 0). A later `make deploy` does not resume on its own
unless it changes ReservedConcurrency: resume explicitly.
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import ClientError

from ops.preflight import PreflightError, aws_session, error_code, friendly
from ops.samconfig import add_env_argument, load
from ops.stacks import deployed_stack


@friendly("emergency")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["pause", "resume"])
    add_env_argument(parser)
    args = parser.parse_args(argv)
    env = load(args.env)
    session = aws_session(env.region)
    stack = deployed_stack(session, env)
    function = stack.outputs.get("TokenFunctionName")
    if not function:
        raise PreflightError(f"{env.stack_name} has no TokenFunctionName output")
    lambda_ = session.client("lambda")
    try:
        if args.action == "pause":
            lambda_.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
            print(f"paused: {function} runs nowhere now; undo with make resume ENV={env.name}")
            return 0
        reserved = int(stack.parameters.get("ReservedConcurrency", "0") or 0)
        if reserved:
            lambda_.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=reserved)
        else:
            lambda_.delete_function_concurrency(FunctionName=function)
    except ClientError as exc:
        raise PreflightError(f"Lambda refused ({error_code(exc)})") from None
    print(f"resumed: {function} (reserved concurrency: {reserved or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
