"""`make publish BUCKET=...`: a "Launch stack" link for people who never clone the repository.

`sam package` uploads the built functions and layers to the bucket and writes a template that points at
them; that template goes to the bucket too, and CloudFormation's quick-create page deploys it in a few
clicks (the user fills in the parameters and acknowledges the IAM capability). The bucket must let those
users read the objects (a public-read bucket policy on the prefix, or the same AWS organisation).

Why not the Serverless Application Repository: the list of resource types it supports that we could check
has none of EventBridge Scheduler's schedule, the WAFv2 association and CodeDeploy's application and
deployment group (from DeploymentPreference), which this template needs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

from local.paths import BUILD_DIR, REPO
from ops.preflight import PreflightError, aws_session, friendly, require_bucket

BUILT_TEMPLATE = BUILD_DIR / "template.yaml"
PACKAGED = REPO / ".aws-sam" / "packaged.yaml"


def launch_url(region: str, template_url: str, stack_name: str) -> str:
    """CloudFormation's quick-create page for the template at `template_url`."""
    query = urlencode({"templateURL": template_url, "stackName": stack_name}, quote_via=quote)
    return f"https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/quickcreate?{query}"


@friendly("publish")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bucket", default="", help="S3 bucket the users can read")
    parser.add_argument("--region", default="", help="the bucket's region, where users launch the stack")
    parser.add_argument("--prefix", default="gradium-token-broker", help="key prefix in the bucket")
    parser.add_argument(
        "--stack-name", default="gradium-token-broker", help="the stack name users start with"
    )
    args = parser.parse_args(argv)
    if not BUILT_TEMPLATE.exists():
        raise PreflightError("run `make build` first")
    if not args.bucket:
        raise PreflightError("no bucket: make publish BUCKET=<a bucket your users can read> REGION=<region>")
    session = aws_session(args.region)
    require_bucket(session, args.bucket)
    sam = Path(sys.executable).parent / "sam"
    packaged = subprocess.run(  # noqa: S603 (our own virtualenv's sam, arguments we built)
        [
            sam, "package", "--template-file", BUILT_TEMPLATE, "--output-template-file", PACKAGED,
            "--s3-bucket", args.bucket, "--s3-prefix", args.prefix, "--region", args.region,
        ],
        check=False,
    )  # fmt: skip
    if packaged.returncode != 0:
        raise PreflightError("sam package failed (its message is above)")
    key = f"{args.prefix}/template.yaml"
    s3 = session.client("s3")
    s3.upload_file(str(PACKAGED), args.bucket, key)
    template_url = f"https://{args.bucket}.s3.{args.region}.amazonaws.com/{key}"
    print(f"Launch stack: {launch_url(args.region, template_url, args.stack_name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
