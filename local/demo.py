"""`make demo`: the browser demo as a page to use, against `make serve`'s local API.

It compiles clients/typescript and its demo page, serves them on their own origin (the API allows exactly
that origin, as a deployed stack with AllowedOrigin would), starts the local API and the speech stand-in
(or, with GRADIUM=real, the real Gradium with a key read safely), and prints the page's URL. The page signs
in against the local pool, speaks typed text, and shows the token's fingerprint and expiry, the quota left
(from `/quota` on the page's own server: the local quota table, read for the test user) and the broker's
answer when the quota runs out. The browser test (tests/clients/test_browser_demo.py) drives this page.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from broker.quota import item_key, spent
from local.http_server import BackgroundHTTPServer
from local.local_pool import LOCAL_PASSWORD, LOCAL_USER
from local.paths import REPO
from local.process import stop_on_sigterm
from local.real_gradium import add_real_gradium_flag, gradium_key
from local.serve import LocalApi, local_api
from local.speech_standin import SpeechStandIn

CLIENT = REPO / "clients" / "typescript" / "gradium-client.ts"
DEMO = CLIENT.parent / "demo"
TSC = REPO / "tests" / "clients" / "node_modules" / ".bin" / "tsc"


def compile_typescript(out_dir: Path, *sources: Path) -> None:
    """tsc --strict for browsers (ES2022 modules, DOM types): what a web app's bundler would accept."""
    if not TSC.exists():
        raise FileNotFoundError("run `make venv` first: it installs the TypeScript compiler with npm ci")
    flags = ["--strict", "--target", "ES2022", "--module", "ES2022", "--lib", "ES2022,DOM"]
    subprocess.run([TSC, *flags, "--outDir", out_dir, *sources], check=True)


def build_site(site: Path) -> None:
    """The compiled client and demo page under `site`/demo/ (and the client under `site`/)."""
    compile_typescript(site, CLIENT, DEMO / "demo.ts")
    shutil.copy(DEMO / "index.html", site / "demo" / "index.html")


def quota_left(api: LocalApi, sub: str) -> dict[str, Any]:
    """The daily and per-minute limits of the local API and what `sub` has left of them (None: no limit)."""
    env = api.emulator.env
    per_day, per_minute = int(env["TOKENS_PER_USER_PER_DAY"]), int(env["TOKENS_PER_USER_PER_MINUTE"])
    now = time.time()
    spent_today = spent_minute = 0
    if env.get("QUOTA_TABLE_NAME"):  # read as the function writes it (quota.py's item layout)
        item = api.stack.dynamodb.get_item(TableName=env["QUOTA_TABLE_NAME"], Key=item_key(sub, now))
        spent_today, spent_minute = spent(item.get("Item", {}), now)
    return {
        "per_day": per_day,
        "left_today": max(0, per_day - spent_today) if per_day else None,
        "per_minute": per_minute,
        "left_this_minute": max(0, per_minute - spent_minute) if per_minute else None,
    }


@contextlib.contextmanager
def demo_site(port: int = 0) -> Iterator[tuple[str, Callable[[LocalApi], None]]]:
    """Serve the built page on 127.0.0.1 (`port`, or a free one). Yields the site's origin and a function
    that names the running LocalApi, whose test user's quota `/quota` then reports."""
    with tempfile.TemporaryDirectory(prefix="gradium-demo-") as folder:
        site = Path(folder)
        build_site(site)
        serving: dict[str, Any] = {}

        def use(api: LocalApi) -> None:
            serving.update(api=api, sub=_sub_of(api.id_token()))

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(site), **kwargs)

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/quota" or "api" not in serving:
                    return super().do_GET()
                body = json.dumps(quota_left(serving["api"], serving["sub"])).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None

            def log_message(self, format: str, *args: object) -> None:
                pass

        with BackgroundHTTPServer(Handler, port) as server:
            yield server.base_url, use


def _sub_of(id_token: str) -> str:
    """The `sub` claim of a token this process just got from moto (its signature is not the point here)."""
    payload = id_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def page_url(origin: str, api: LocalApi, speech_url: str | None) -> str:
    """The demo page with the local API's settings in its query (the keys of .aws-sam/local-api.json)."""
    query = {
        "token_url": api.token_url,
        "cognito_endpoint": api.info["cognito_endpoint"],
        "region": api.info["region"],
        "app_client_id": api.info["app_client_id"],
        "quota_url": f"{origin}/quota",
        # The local pool's test user (its password is no secret: make serve prints it), shown on the page.
        "local_user": LOCAL_USER,
        "local_password": LOCAL_PASSWORD,
    }
    if speech_url:
        query["speech_url"] = speech_url
    return f"{origin}/demo/index.html?{urlencode(query)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8080, help="the page's port (default 8080)")
    add_real_gradium_flag(parser)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    try:
        real_key = gradium_key(args.real_gradium)
        with (
            demo_site(args.port) as (origin, use_api),
            local_api({"AllowedOrigin": origin}, gradium_api_key=real_key) as api,
        ):
            use_api(api)
            with _speech(api, real_key) as speech_url:
                gradium = "api.gradium.ai (GRADIUM=real)" if real_key else "the local stand-in"
                print(f"\nThe demo: {page_url(origin, api, speech_url)}")
                print(f"Sign in as {LOCAL_USER} / {LOCAL_PASSWORD} (the local pool's test user).")
                print(f"Gradium is {gradium}. Ctrl-C stops it.\n", flush=True)
                # Short sleeps: the kernel may hand Ctrl-C (SIGINT) to any thread, and Python runs its handler
                # only when the main thread next wakes.
                while True:
                    time.sleep(0.2)
    except (ValueError, FileNotFoundError, OSError) as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nStopped.")
    return 0


@contextlib.contextmanager
def _speech(api: LocalApi, real_key: str | None) -> Iterator[str | None]:
    """The speech stand-in (it takes the tokens the Gradium stand-in minted), or None for the real one."""
    if real_key or api.stack.standin is None:
        yield None
        return
    speech = SpeechStandIn(api.stack.standin.issued_tokens).start()
    try:
        yield speech.base_url
    finally:
        speech.stop()


if __name__ == "__main__":
    sys.exit(main())
