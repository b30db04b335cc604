"""Checking message templates before a campaign goes live (rendering itself belongs to
delivery). Jinja2 parsing is pure: the caller reads the files."""

from __future__ import annotations

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(autoescape=True)


def template_error(source: str) -> tuple[int, str] | None:
    """(line, reason) of a Jinja2 syntax error in `source`, or None when it parses."""
    try:
        _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return exc.lineno, exc.message or "syntax error"
    return None
