"""GRADIUM=real for the local commands (make invoke, serve, demo, standins): the flag, and the real key it
reads from a file or a hidden prompt, never from the environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping


def add_real_gradium_flag(parser: argparse.ArgumentParser) -> None:
    """`--real-gradium` (make's GRADIUM=real), which `gradium_key` reads the key for."""
    parser.add_argument(
        "--real-gradium",
        action="store_true",
        help="use api.gradium.ai with your key (from GRADIUM_API_KEY_FILE, else a hidden prompt)",
    )


def gradium_key(real: bool, environ: Mapping[str, str] = os.environ) -> str | None:
    """The real Gradium key for a local run when `real` (GRADIUM=real): from GRADIUM_API_KEY_FILE, else a
    hidden prompt (or standard input), checked as the function checks it; None for the stand-in.

    A key in the environment is refused, not read: `GRADIUM_API_KEY=gd_… make serve` leaves it in the
    shell's history. Raises ValueError with what to do instead.
    """
    if environ.get("GRADIUM_API_KEY"):
        raise ValueError(
            "GRADIUM_API_KEY is not read (a key typed on a command line stays in shell history): unset it, "
            "then use GRADIUM=real for a hidden prompt, or GRADIUM=real GRADIUM_API_KEY_FILE=<a file only "
            "you can read>"
        )
    if not real:
        return None
    from broker.api_key import parse_api_key  # the function's own check, as `make put-key` makes it
    from broker.errors import ApiKeyUnavailable
    from ops.put_api_key import read_key

    try:
        return parse_api_key(read_key(environ.get("GRADIUM_API_KEY_FILE")))
    except OSError as exc:
        raise ValueError(f"GRADIUM_API_KEY_FILE could not be read ({type(exc).__name__})") from None
    except ApiKeyUnavailable as exc:
        raise ValueError(f"the Gradium key was refused: {exc}") from None  # the reason, never the value
