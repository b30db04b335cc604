"""The console's side of DESIGN.md invariant 6: nothing below `app.ui` loads Textual, and
the console reaches storage and mail only through `app.service`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"


@pytest.mark.parametrize("module", ["app.service", "app.core"])
def test_service_and_core_load_no_textual(module: str) -> None:
    # Every service module, not just the package: `app.service` itself is nearly empty.
    names = [module] + [
        f"{module}.{p.stem}"
        for p in (APP / module.split(".")[1]).glob("*.py")
        if p.stem != "__init__"
    ]
    code = (
        "import importlib, sys\n"
        + "".join(f"importlib.import_module({n!r})\n" for n in names)
        + "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=APP.parent
    )
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    assert "textual" not in loaded


def test_the_console_imports_no_storage_or_smtp_library() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(sqlite3|sqlite_utils|aiosmtplib)\b", re.M)
    offenders = [str(p) for p in (APP / "ui").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_the_console_calls_services_not_the_store() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+app\.store\b", re.M)
    offenders = [str(p) for p in (APP / "ui").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
