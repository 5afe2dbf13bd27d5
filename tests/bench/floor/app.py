"""The floor: the least a correct token function must do, to measure the real one against.

It imports boto3 and urllib3 (both in the Lambda runtime), reads the key once and keeps it, keeps one
pooled connection, and returns Gradium's token. No logging, metrics, validation, quota or retries.
"""

import json
import os

import boto3
import urllib3

_secrets = boto3.client("secretsmanager")
_pool = urllib3.PoolManager(maxsize=1)
_key = None


def handler(event, context):
    global _key
    if _key is None:
        _key = _secrets.get_secret_value(SecretId=os.environ["GRADIUM_API_KEY_SECRET_ID"])["SecretString"]
    answer = json.loads(
        _pool.request("GET", os.environ["GRADIUM_TOKEN_URL"], headers={"x-api-key": _key}).data
    )
    body = {"token": answer["token"], "expires_at": answer["expires_at"]}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
