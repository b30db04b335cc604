"""The errors Nudge raises on purpose. Each carries a one-line message for an operator."""

from __future__ import annotations


class NudgeError(Exception):
    """Base of every error that is shown to an operator or API client as one line.

    Attributes:
        code: a short machine-readable code (the API answers `{"code", "message"}`).
    """

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidOperation(NudgeError):
    """An ingest operation that cannot be applied; nothing of it is stored."""

    code = "invalid_operation"


class NotFound(NudgeError):
    """A person, campaign or file that does not exist."""

    code = "not_found"


class ConfigError(NudgeError):
    """Settings that cannot be used (bad path, bad time zone, unreadable nudge.toml)."""

    code = "config_error"
