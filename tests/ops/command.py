"""An ops command as make runs it (`python -m ops.X args`), but in this process: its `main(argv)` with the
environment, standard input and output it would have, and what the process would have answered.

A new interpreter per call (boto3 and botocore imported again) cost about 0.7 s of CPU; dozens of calls made
`make unit` too slow to be the fast loop. What a process adds beyond `main` is the module's two-line
`if __name__ == "__main__"`, which tests/ops/test_samconfig.py still runs as a real process.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """os.environ is `env` alone (as a child process's would be), then what it was."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_command(
    module: str, *args: str, env: Mapping[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`python -m module args`: its exit status, standard output and error. An exception that escapes is
    status 1 with its traceback in stderr, as the interpreter would print it, so tests still see it."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with (
            environment(dict(os.environ if env is None else env)),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                status = importlib.import_module(module).main(list(args))
            except SystemExit as exit_:  # argparse, and commands that exit from inside
                status = exit_.code
            except Exception:
                traceback.print_exc()
                status = 1
    finally:
        sys.stdin = saved_stdin
    if isinstance(status, str):  # sys.exit("message"): the message to stderr, status 1
        err.write(status + "\n")
        status = 1
    return subprocess.CompletedProcess([module, *args], status or 0, out.getvalue(), err.getvalue())
