"""`make publish` against S3 on a moto server: `sam package` uploads the artefacts and the template, and the
printed link is CloudFormation's quick-create page for that template."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from samcli.yamlhelper import yaml_parse

from local.services import moto_client, moto_server
from ops.publish import PACKAGED, launch_url

REPO = Path(__file__).resolve().parents[2]


def test_the_launch_url_is_cloudformations_quick_create_page() -> None:
    url = launch_url("eu-west-1", "https://b.s3.eu-west-1.amazonaws.com/p/template.yaml", "broker")
    parts = urlsplit(url)
    assert (parts.netloc, parts.query) == ("console.aws.amazon.com", "region=eu-west-1")
    route, _, query = parts.fragment.partition("?")
    assert route == "/stacks/quickcreate"
    assert parse_qs(query) == {
        "templateURL": ["https://b.s3.eu-west-1.amazonaws.com/p/template.yaml"],
        "stackName": ["broker"],
    }


@pytest.mark.build
def test_publish_packages_the_build_into_the_bucket() -> None:
    with moto_server() as (url, _):
        s3 = moto_client(url, "s3")
        s3.create_bucket(Bucket="broker-releases")
        env = os.environ | {
            "AWS_ENDPOINT_URL_S3": url,
            "AWS_ENDPOINT_URL_STS": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SAM_CLI_TELEMETRY": "0",
        }
        result = subprocess.run(
            [sys.executable, "-m", "ops.publish", "--bucket", "broker-releases", "--region", "us-east-1"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        keys = {item["Key"] for item in s3.list_objects_v2(Bucket="broker-releases")["Contents"]}
    assert "gradium-token-broker/template.yaml" in keys
    packaged = yaml_parse(PACKAGED.read_text())
    code = packaged["Resources"]["TokenFunction"]["Properties"]["CodeUri"]
    assert code.startswith("s3://broker-releases/gradium-token-broker/")
    assert code.removeprefix("s3://broker-releases/") in keys  # the function's zip is in the bucket
    assert (
        "Launch stack: https://console.aws.amazon.com/cloudformation/home?region=us-east-1" in result.stdout
    )
