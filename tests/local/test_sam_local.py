"""`make standins`: the stand-ins for SAM's containers and the --env-vars file that names them (the
recipe itself runs through SAM CLI and Docker in tests/sam_docker)."""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from broker.config import MonitorSettings, Settings
from local.sam_local import listen_host, standins
from local.services import STANDIN_API_KEY, moto_client, moto_server


@pytest.fixture(scope="module")
def running():
    with standins() as stand_ins:
        yield stand_ins


def test_each_function_reaches_every_stand_in_as_host_docker_internal(running) -> None:
    token, monitor = running.env_vars["TokenFunction"], running.env_vars["CreditsMonitorFunction"]
    port = urlsplit(running.stack.moto_url).port
    assert token["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == token["AWS_ENDPOINT_URL_DYNAMODB"]
    assert token["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://host.docker.internal:{port}"
    assert token["GRADIUM_TOKEN_URL"] == (
        f"http://host.docker.internal:{running.stack.standin.port}/api/api-keys/token"
    )
    assert monitor["GRADIUM_TOKEN_URL"] == token["GRADIUM_TOKEN_URL"]
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in monitor  # the monitor has no table, nor that variable
    # What the function accepts inside SAM's container, and refuses anywhere else.
    Settings.from_env(token | {"AWS_SAM_LOCAL": "true"})
    MonitorSettings.from_env(monitor | {"AWS_SAM_LOCAL": "true"})
    with pytest.raises(ValueError, match=r"names host\.docker\.internal"):
        Settings.from_env(token)


def test_the_secret_holds_the_stand_ins_key_and_the_quota_table_exists(running) -> None:
    env = running.env_vars["TokenFunction"]
    secret = running.stack.secrets_manager.get_secret_value(SecretId=env["GRADIUM_API_KEY_SECRET_ID"])
    assert secret["SecretString"] == STANDIN_API_KEY
    table = moto_client(running.stack.moto_url, "dynamodb").describe_table(TableName=env["QUOTA_TABLE_NAME"])
    assert table["Table"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


def test_the_file_is_the_env_vars_file_and_its_owners_alone(running, tmp_path: Path) -> None:
    path = running.write(tmp_path / "sam-local-env.json")
    assert json.loads(path.read_text()) == running.env_vars
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _fake_docker(tmp_path: Path, gateway: str) -> str:
    docker = tmp_path / "docker"
    docker.write_text(f"#!/bin/sh\necho '{gateway}'\n")
    docker.chmod(0o755)
    return str(docker)


def test_the_stand_ins_listen_on_dockers_bridge_gateway_when_it_is_this_machines(tmp_path: Path) -> None:
    """Linux Docker maps host-gateway to the bridge's gateway, an address of this machine."""
    assert listen_host(_fake_docker(tmp_path, "127.0.0.5")) == "127.0.0.5"


@pytest.mark.parametrize("gateway", ["192.0.2.1", "", "not an address"])
def test_else_they_listen_on_loopback(tmp_path: Path, gateway: str) -> None:
    """Docker Desktop's bridge lives in its VM (not an address here); no Docker at all: loopback."""
    assert listen_host(_fake_docker(tmp_path, gateway)) == "127.0.0.1"
    assert listen_host(str(tmp_path / "no-docker")) == "127.0.0.1"


def test_the_stand_ins_moto_answers_host_docker_internal_and_no_other_name(running) -> None:
    """The name SAM's containers use; the guard still refuses any other (DNS rebinding)."""

    def status(host: str) -> int:
        request = urllib.request.Request(running.stack.moto_url + "/", headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as refused:
            return refused.code

    port = urlsplit(running.stack.moto_url).port
    assert status(f"host.docker.internal:{port}") != 403
    assert status(f"rebound.evil.example:{port}") == 403
    with moto_server() as (url, _):  # make serve's and make invoke's: no such name
        request = urllib.request.Request(url + "/", headers={"Host": "host.docker.internal"})
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(request, timeout=5)
