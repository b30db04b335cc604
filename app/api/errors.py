"""Errors the API answers with: JSON `{"code", "message"}` (and `field` when one is to blame).

DESIGN.md invariant 4: no traceback reaches an API client. Every error the API raises
on purpose is an `ApiError`; `InvalidOperation` from the domain becomes a 400; anything
else is logged here with its traceback and answered as a bare 500 `{"code", "message"}`.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import InvalidOperation, NudgeError

log = logging.getLogger("nudge.api")


class ApiError(Exception):
    """An answer other than 200, raised anywhere in a request.

    Args:
        status: the HTTP status (400 bad shape, 401 auth, 404 unknown, 413 too large).
        code: a short machine-readable code (`invalid_json`, `unauthorized`, ...).
        message: one line for a person.
        field: the request field at fault, when one is.
        extra: more JSON keys (a batch's per-index errors).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: `{"code", "message"}`, plus `field` and any extra keys."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        out.update(self.extra)
        return out


def error_response(error: ApiError) -> JSONResponse:
    """The response for an `ApiError` (with `WWW-Authenticate` on a 401, as RFC 7235 asks)."""
    headers = {"WWW-Authenticate": 'Basic realm="nudge"'} if error.status == 401 else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure as JSON `{"code", "message"}`; never a traceback."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InvalidOperation)
        return error_response(ApiError(400, exc.code, exc.message))

    async def on_nudge_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NudgeError)
        status = 404 if exc.code == "not_found" else 400
        return error_response(ApiError(status, exc.code, exc.message))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(
            {"code": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        # Only reached for parameters FastAPI itself validates (bodies are read by hand).
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        message = str(first.get("msg", "bad request"))
        return error_response(ApiError(400, "invalid_request", message, where))

    async def on_database(_: Request, exc: Exception) -> JSONResponse:
        # The write lock stayed taken past the busy timeout (a long `nudge ingest` in
        # another process): the client's retry will get through; nothing was written.
        log.warning("database busy: %s", exc)
        body = {"code": "unavailable", "message": "the database is busy; try again"}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    async def on_anything(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error answering a request", exc_info=exc)
        body = {"code": "internal_error", "message": f"unexpected {type(exc).__name__}"}
        return JSONResponse(body, status_code=500)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(InvalidOperation, on_invalid)
    app.add_exception_handler(NudgeError, on_nudge_error)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(sqlite3.OperationalError, on_database)
    app.add_exception_handler(Exception, on_anything)
