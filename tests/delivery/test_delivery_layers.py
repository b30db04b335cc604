"""DESIGN.md invariant 6 for mail: SMTP libraries live in app.delivery and load on demand."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def test_no_smtp_library_is_imported_outside_app_delivery() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(aiosmtplib|aiosmtpd|smtplib)\b", re.M)
    offenders = [
        str(p.relative_to(APP))
        for p in APP.rglob("*.py")
        if "delivery" not in p.relative_to(APP).parts and pattern.search(p.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("module", ["app.delivery", "app.delivery.recording", "app.cli"])
def test_the_protocol_side_loads_no_smtp_library(module: str) -> None:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=APP.parent
    )
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    assert loaded & {"aiosmtplib", "aiosmtpd"} == set()


def test_lazy_names_resolve() -> None:
    import app.delivery as delivery
    from app.delivery.sink import Sink
    from app.delivery.smtp import SmtpMailer

    assert delivery.SmtpMailer is SmtpMailer
    assert delivery.Sink is Sink
    for name in delivery.__all__:
        assert getattr(delivery, name) is not None
    with pytest.raises(AttributeError):
        _ = delivery.Nope
