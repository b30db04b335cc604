"""DESIGN.md invariant 6: layers point one way. Checked on the imports and the source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=APP.parent
    )
    return {name.split(".")[0] for name in out.stdout.split()}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("app.core", {"textual", "sqlite_utils", "sqlite3", "aiosmtplib", "jinja2_sqlite"}),
        ("app.store", {"textual", "aiosmtplib"}),
        ("app.service.ingest", {"textual", "aiosmtplib"}),
        ("app.cli", {"textual", "aiosmtplib"}),
    ],
)
def test_lower_layers_do_not_import_upper_ones(module: str, forbidden: set[str]) -> None:
    assert _modules_after_import(module) & forbidden == set()


def _sources(exclude: str) -> list[Path]:
    return [p for p in APP.rglob("*.py") if exclude not in p.parts]


_SQL = re.compile(r"\b(SELECT\s+\S.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")


def test_no_sql_outside_store() -> None:
    offenders = [str(p) for p in _sources("store") if _SQL.search(p.read_text())]
    assert offenders == []


def test_only_the_system_clock_reads_the_wall_clock() -> None:
    pattern = re.compile(r"datetime\.now\(|time\.time\(|time\.time_ns\(|date\.today\(")
    offenders = [
        str(p) for p in APP.rglob("*.py") if p.name != "clock.py" and pattern.search(p.read_text())
    ]
    assert offenders == []


def test_core_has_no_io_imports() -> None:
    pattern = re.compile(
        r"^\s*(import|from)\s+(sqlite3|sqlite_utils|socket|aiosmtplib|textual|"
        r"watchfiles|gzip|subprocess)\b",
        re.M,
    )
    offenders = [str(p) for p in (APP / "core").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
