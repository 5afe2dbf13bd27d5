"""`make smoke-user ENV=…`: the smoke test's user, made once per environment by an administrator.

The pipeline's deploy job smoke-tests every deploy, and it must not hold any user-admin action on the pool
(with one, any push to main could reset any user's password in a shared pool). So an administrator makes the
smoke test's user once, with their own credentials: this command creates it in the stack's pool (or gives it
a new password), puts it in the stack's RequiredGroup, and writes its name and a generated password into the
secret that pipeline/bootstrap.yaml made for it, which only the pipeline's role may read. The deploy job then
signs in as the app does (SRP with the app client: `make smoke … SMOKE_FLAGS=--user-from-secret`). The
password is never printed, and this command never reads the secret back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
from typing import Any

from botocore.exceptions import ClientError

from ops.preflight import PreflightError, aws_session, error_code, friendly
from ops.samconfig import add_env_argument, load
from ops.stacks import describe_stack

DEFAULT_USERNAME = "smoke-test@example.com"
# pipeline/bootstrap.yaml's SmokeTestUserSecret is named so (a test holds them together).
SECRET_PREFIX = "gradium-token-broker-smoke"  # noqa: S105 (a name, not a password)


def secret_name(stack_name: str) -> str:
    """The secret holding `stack_name`'s smoke-test user ({"username", "password"})."""
    return f"{SECRET_PREFIX}/{stack_name}"


def generated_password() -> str:
    # Meets the template's policy: 12+ characters with lower case, upper case and digits.
    return "Sm0ke-" + secrets.token_urlsafe(18) + "aA1"


def create_user(
    cognito: Any, pool_id: str, username: str, password: str, groups: tuple[str, ...] = ()
) -> None:
    """A confirmed user with a verified e-mail and this permanent password, in `groups` (administrator's
    actions: never the pipeline's). An existing user keeps its account and gets the new password."""
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=username,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": username},
                {"Name": "email_verified", "Value": "true"},
            ],
        )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
    for group in groups:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)


def make_smoke_user(session: Any, stack_name: str, username: str = DEFAULT_USERNAME) -> str:
    """Create (or reset) the smoke user of `stack_name` and keep its password in the pipeline's secret;
    returns the secret's name."""
    stack = describe_stack(session.client("cloudformation"), stack_name)
    if stack is None or "UserPoolId" not in stack.outputs:
        raise PreflightError(f"no deployed stack {stack_name} with a UserPoolId output: deploy it first")
    group = stack.parameters.get("RequiredGroup", "")
    password = generated_password()
    create_user(
        session.client("cognito-idp"),
        stack.outputs["UserPoolId"],
        username,
        password,
        (group,) if group else (),
    )
    name = secret_name(stack_name)
    try:
        session.client("secretsmanager").put_secret_value(
            SecretId=name, SecretString=json.dumps({"username": username, "password": password})
        )
    except ClientError as exc:
        raise PreflightError(
            f"the secret {name} could not be written ({error_code(exc)}): deploy pipeline/bootstrap.yaml "
            "for this stack first (it makes the secret)"
        ) from None
    return name


@friendly("smoke-user")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_env_argument(parser)
    parser.add_argument("--username", default=DEFAULT_USERNAME, help=f"default {DEFAULT_USERNAME}")
    args = parser.parse_args(argv)
    env = load(args.env)
    try:
        secret = make_smoke_user(aws_session(env.region), env.stack_name, args.username)
    except ClientError as exc:
        raise PreflightError(f"the smoke user could not be made ({error_code(exc)})") from None
    print(
        f"smoke-user: {args.username} is ready in {env.stack_name}'s pool; its password is only in {secret}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
