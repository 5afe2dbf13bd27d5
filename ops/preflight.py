"""Checks every target that talks to AWS makes first, so that a missing prerequisite is one clear line
saying what to do, not a botocore traceback: credentials, the region, a bucket, the account's API Gateway
logs role."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from ops.samconfig import SamconfigError


class PreflightError(Exception):
    """A prerequisite is missing: the message says which and what to do."""


def error_code(exc: ClientError) -> str:
    """The AWS error code of a refused call ("AccessDenied", "404"...), never its message."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def aws_session(region: str) -> boto3.session.Session:
    """A session in `region` whose credentials AWS accepts (STS GetCallerIdentity, which needs no rights)."""
    if not region:
        raise PreflightError('no region: set region = "..." in samconfig.toml (make publish: REGION=...)')
    session = boto3.session.Session(region_name=region)
    try:
        session.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise PreflightError(
            "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE, then try again"
        ) from None
    except NoRegionError:
        raise PreflightError(f"region {region!r} is not a region") from None
    except ClientError as exc:
        code = error_code(exc)
        raise PreflightError(
            f"AWS refused these credentials ({code}): refresh them (`aws sso login`) or use another profile"
        ) from None
    except BotoCoreError as exc:
        raise PreflightError(f"AWS could not be reached in {region} ({type(exc).__name__})") from None
    return session


def require_bucket(session: boto3.session.Session, bucket: str) -> None:
    """The bucket exists and these credentials may use it."""
    if not bucket:
        raise PreflightError("no bucket: make publish BUCKET=<a bucket your users can read> REGION=<region>")
    try:
        session.client("s3").head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc)
        reasons = {"404": "does not exist", "403": "is not yours to write to"}
        reason = reasons.get(code, f"cannot be used ({code})")
        raise PreflightError(f"bucket {bucket} {reason}: create it, or name another: BUCKET=...") from None


def logs_role_problem(session: boto3.session.Session, planned: dict[str, str], env_name: str) -> str | None:
    """Why a deploy would fail on the stage's access logs ("CloudWatch Logs role ARN must be set"), or None.

    API Gateway writes access logs with the account's CloudWatch role, one per account and region. Without
    one, a first deploy fails on the stage and leaves the stack in ROLLBACK_COMPLETE. Credentials that may
    not read the setting (apigateway:GET on /account) get None: the deploy itself will tell.
    """
    if planned.get("ConfigureApiGatewayLogsRole") == "true":
        return None
    try:
        account = session.client("apigateway").get_account()
    except (ClientError, BotoCoreError):
        return None
    if account.get("cloudwatchRoleArn"):
        return None
    region = session.region_name
    missing = f"this account has no API Gateway CloudWatch Logs role in {region}, which the stage's "
    if planned.get("PermissionsBoundaryArn"):  # a bounded deploy (the pipeline) may not own it
        return missing + (
            "access logs need: an administrator sets it once (see docs/deploying.md), then deploy again"
        )
    return missing + (
        f'access logs need: run `make config ENV={env_name} SET="ConfigureApiGatewayLogsRole=true"` (one '
        "stack per account and region owns it), then deploy"
    )


def friendly(program: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Make a command's main print a PreflightError (or a samconfig.toml problem) as one line and exit 2."""

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @wraps(main)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                return main(*args, **kwargs)
            except (PreflightError, SamconfigError) as exc:
                print(f"{program}: {exc}", file=sys.stderr)
                return 2

        return run

    return wrap


@friendly("preflight")
def main(argv: list[str] | None = None) -> int:
    """`make logs`'s first step: credentials that work in the environment's region."""
    import argparse

    from ops.samconfig import add_env_argument, load

    parser = argparse.ArgumentParser(description="Check credentials for a samconfig.toml environment.")
    add_env_argument(parser)
    env = load(parser.parse_args(argv).env)
    aws_session(env.region)
    return 0


if __name__ == "__main__":
    sys.exit(main())
