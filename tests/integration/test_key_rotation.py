"""The runbook's key rotation, in its order, through the built function under the Lambda emulator: no
request fails at any step (docs/runbooks.md, "Rotate the Gradium key")."""

from __future__ import annotations

import json
import uuid

from local.lambda_emulator import LambdaEmulator
from local.paths import EVENTS_DIR
from local.services import local_services

SIGNED_IN = json.loads((EVENTS_DIR / "signed_in.json").read_text())
OLD, NEW = "gd_old_key_0123456789abcdef", "gd_new_key_fedcba9876543210"


def test_put_the_new_key_then_revoke_the_old_one_and_no_request_fails() -> None:
    with local_services() as stack:
        gradium = stack.standin
        assert gradium is not None
        gradium.api_keys = {OLD}
        secret = f"gradium-token-broker/rotation/{uuid.uuid4().hex[:8]}"
        stack.put_api_key(secret, OLD)
        env = stack.function_env(
            {
                "GRADIUM_API_KEY_SECRET_ID": secret,
                "TOKENS_PER_USER_PER_MINUTE": "0",
                "TOKENS_PER_USER_PER_DAY": "0",
                "DAILY_TOKEN_CEILING": "0",
                "QUOTA_TABLE_NAME": "",
            }
        )
        with LambdaEmulator(env) as emulator:

            def statuses(calls: int) -> list[int]:
                return [emulator.invoke(SIGNED_IN).response["statusCode"] for _ in range(calls)]

            assert statuses(2) == [200, 200]
            # 1. Create the new key in Gradium's dashboard; both keys work now.
            gradium.api_keys = {OLD, NEW}
            # 2. make put-key: running environments keep their cached (old) key until the TTL.
            stack.put_api_key(secret, NEW)
            assert statuses(2) == [200, 200]
            assert [r.headers["x-api-key"] for r in gradium.requests[-2:]] == [OLD, OLD]
            # 3. Revoke the old key: the next request is refused once (401), re-reads the secret, retries.
            gradium.api_keys = {NEW}
            assert statuses(3) == [200, 200, 200]
            assert [r.headers["x-api-key"] for r in gradium.requests[-4:]] == [OLD, NEW, NEW, NEW]
            logs = emulator.logs()
    assert '"key_refreshed":true' in logs.replace(" ", "") and OLD not in logs and NEW not in logs
