"""How the long-running local commands (make serve, make demo) stop: SIGTERM as Ctrl-C."""

from __future__ import annotations

import signal


def stop_on_sigterm() -> None:
    """`kill` stops make serve (or make demo) as Ctrl-C does: every process and server it started goes."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
