"""The API sits above the service layer (DESIGN.md invariant 6), and the CLI pays for
FastAPI and uvicorn only in the command that serves them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return {name.split(".")[0] for name in out.stdout.split()}


def test_the_api_imports_no_console_and_no_smtp_client() -> None:
    assert _modules_after_import("app.api.app") & {"textual", "aiosmtplib"} == set()


def test_lower_layers_and_the_cli_do_not_import_the_api() -> None:
    for module in ("app.core", "app.store", "app.service.workspace", "app.cli"):
        loaded = _modules_after_import(module)
        assert loaded & {"fastapi", "uvicorn", "starlette"} == set(), module
