"""`make put-key`: put the Gradium API key into the stack's secret without it touching argv or history.

`aws secretsmanager put-secret-value --secret-string gd_…` leaves the key in the shell's history and in the
process list. This reads it from a hidden prompt (or from standard input when that is not a terminal, e.g.
`make put-key < key.txt` or a password manager's pipe), checks it as the function will, and writes it with
boto3. The secret is the stack's `SecretArn` output, or `--secret-id`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from broker.api_key import parse_api_key  # the function's own check: a key it would refuse is refused here
from broker.errors import ApiKeyUnavailable
from ops.preflight import PreflightError, aws_session, friendly
from ops.samconfig import add_env_argument, load
from ops.stacks import deployed_stack


def read_key(path: str | None = None) -> str:
    """The key from the file at `path` (one only you can read), else a hidden prompt, else standard input:
    never argv, the environment or shell history."""
    if path:
        return Path(path).expanduser().read_text()
    if sys.stdin.isatty():
        return getpass.getpass("Gradium API key (not shown): ")
    return sys.stdin.readline()


@friendly("put-key")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_env_argument(parser)
    parser.add_argument(
        "--secret-id", help="the secret's ARN or name (default: the stack's SecretArn output)"
    )
    args = parser.parse_args(argv)
    env = load(args.env)
    session = aws_session(env.region)
    secret_id = args.secret_id
    if not secret_id:
        stack = deployed_stack(session, env)
        if "SecretArn" not in stack.outputs:
            raise PreflightError(f"{env.stack_name} has no SecretArn output: pass SECRET_ID=<the secret>")
        secret_id = stack.outputs["SecretArn"]
    try:
        key = parse_api_key(read_key())
    except ApiKeyUnavailable as exc:
        print(f"put-key: not stored: {exc}", file=sys.stderr)  # the reason, never the value
        return 1
    session.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=key)
    print(f"put-key: stored in {secret_id}; running environments pick it up within SecretCacheTtlSeconds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
