"""Running the CLI in tests: exceptions propagate (a traceback fails the test instead of
hiding in the output)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from app.cli import cli


def run(*args: str | Path, input: str | None = None) -> Result:
    """`nudge ARGS...` in-process, with `input` on stdin."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
