"""What the function talks to, on loopback: Secrets Manager and DynamoDB from a moto server, and the
Gradium stand-in."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from local.gradium_standin import GradiumStandIn
from local.network import local_host, url_host
from local.origin_guard import OriginGuard
from local.paths import EVENTS_DIR

if TYPE_CHECKING:
    from local.cognito_endpoint import CognitoEndpoint
    from local.sam_template import Template

STANDIN_API_KEY = "gd_local_standin_key_0123456789"
REGION = "us-east-1"


def env_json(function: str) -> dict[str, str]:
    """The function's variables from events/env.json, the file `sam local invoke --env-vars` reads."""
    return dict(json.loads((EVENTS_DIR / "env.json").read_text())[function])


def create_quota_table(dynamodb: Any, name: str) -> None:
    """The quota table as the template defines it (key `pk`), unless it exists already."""
    with suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )


@dataclass
class LocalServices:
    moto_url: str
    standin: GradiumStandIn | None
    secrets_manager: Any
    dynamodb: Any
    aws_calls: Counter[str]  # AWS API calls the moto server answered, e.g. "secretsmanager.GetSecretValue"

    def put_api_key(self, secret_id: str, value: str) -> str:
        """Create the secret, or give it a new value (a rotation); return its ARN."""
        client = self.secrets_manager
        try:
            return client.create_secret(Name=secret_id, SecretString=value)["ARN"]
        except client.exceptions.ResourceExistsException:
            return client.put_secret_value(SecretId=secret_id, SecretString=value)["ARN"]

    def create_quota_table(self, name: str) -> None:
        create_quota_table(self.dynamodb, name)

    def provision(
        self,
        api_key: str | None,
        overrides: dict[str, str] | None = None,
        function: str = "TokenFunction",
        template: Template | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """function_env(...), with the secret it names holding `api_key` (unless None) and the quota
        table it names (if any) created."""
        env = self.function_env(overrides, function, template, names)
        if api_key is not None:
            self.put_api_key(env["GRADIUM_API_KEY_SECRET_ID"], api_key)
        if env.get("QUOTA_TABLE_NAME"):
            self.create_quota_table(env["QUOTA_TABLE_NAME"])
        return env

    def function_env(
        self,
        overrides: dict[str, str] | None = None,
        function: str = "TokenFunction",
        template: Template | None = None,
        names: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """`function`'s variables as `template` resolves them (`names` for its resources' Refs) pointed at
        this stack's ports, then `overrides`. Without a template, template.yaml with its defaults overlaid
        with events/env.json, as `sam local invoke --env-vars events/env.json` runs it."""
        if template is None:
            from local.sam_template import source_template  # samtranslator: 0.5 s, only when needed

            env = source_template(REGION).function_env(function, names) | env_json(function)
        else:
            env = template.function_env(function, names)
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = self.moto_url
        env["AWS_ENDPOINT_URL_DYNAMODB"] = self.moto_url
        if self.standin is not None:
            env["GRADIUM_TOKEN_URL"] = self.standin.token_url
        env.update(overrides or {})
        return env


@contextmanager
def local_services(
    with_standin: bool = True, host: str = "127.0.0.1", names: tuple[str, ...] = ("localhost",)
) -> Iterator[LocalServices]:
    """Start a moto server and (unless told otherwise) a Gradium stand-in on free ports of `host`
    (loopback unless given); the moto server answers requests to an address or to one of `names`."""
    with moto_server(host=host, names=names) as (moto_url, aws_calls):

        def client(service: str) -> Any:
            return moto_client(moto_url, service)

        standin = GradiumStandIn({STANDIN_API_KEY}, host=host).start() if with_standin else None
        try:
            yield LocalServices(moto_url, standin, client("secretsmanager"), client("dynamodb"), aws_calls)
        finally:
            if standin is not None:
                standin.stop()


def moto_client(moto_url: str, service: str) -> Any:
    """A boto3 client of the moto server at `moto_url`, with moto's dummy credentials."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@contextmanager
def moto_server(
    threaded: bool = True, port: int = 0, host: str = "127.0.0.1", names: tuple[str, ...] = ("localhost",)
) -> Iterator[tuple[str, Counter[str]]]:
    """A moto server on a free port of `host` (loopback unless given); yields its URL and a count of the API
    calls it answered.

    It answers no web page (OriginGuard): its callers are the function and our tools, never a browser.
    `threaded=False` serves one request at a time. DynamoDB applies each conditional write atomically,
    but moto takes no lock, so two requests served on two threads can interleave inside one write;
    serving them one by one restores the atomicity of a single request, and only that: two clients
    still race between their requests.
    """
    calls: Counter[str] = Counter()
    moto_app = DomainDispatcherApplication(create_backend_app)

    def counting_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")  # e.g. "secretsmanager.GetSecretValue"
        calls[target.replace("DynamoDB_20120810", "dynamodb")] += 1
        return moto_app(environ, start_response)

    with wsgi_server(OriginGuard(counting_app, names=names), port, threaded, host) as url:
        yield url, calls


@contextmanager
def cognito_endpoint(
    app: CognitoEndpoint,
    port: int = 0,
    allowed_origin: str | None = None,
    host: str = "127.0.0.1",
    on_refusal: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Serve the local Cognito an app is told to use (local/cognito_endpoint.py), with CORS for the app's
    own origin only (`on_refusal` told of any other), on `host`; yields its loopback URL."""
    with wsgi_server(OriginGuard(app, allowed_origin, on_refusal=on_refusal), port, host=host) as url:
        yield url


@contextmanager
def wsgi_server(app: Any, port: int = 0, threaded: bool = True, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve a WSGI app on `host` (loopback unless given), on a free port unless given, until the block
    ends. Yields its URL on loopback."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # werkzeug logs every request
    # Bound here, not by werkzeug: on a taken port werkzeug prints its own advice and exits the process
    # (serving.py, BaseWSGIServer.__init__); here the caller gets the OSError (EADDRINUSE) to explain.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listening:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(128)
        server = make_server(host, port, app, threaded=threaded, fd=listening.fileno())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{url_host(local_host(host))}:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
