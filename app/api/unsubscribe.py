"""Unsubscribe links: `GET /unsubscribe/{token}` shows a confirmation page with a button;
`POST /unsubscribe/{token}` unsubscribes (RFC 8058 one-click: mail providers POST
`List-Unsubscribe=One-Click`; the page's button posts the same form).

GET changes nothing, because mail scanners and link previews fetch every URL in a
message (RFC 8058 §1); POST is idempotent (`Outbox.unsubscribe`). A malformed, forged
or unknown token gets 404 and changes nothing.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.app import api_state
from app.core.errors import NotFound
from app.core.unsubscribe import verify_token
from app.delivery.mailer import SendOutcome
from app.service.outbox import Outbox
from app.service.workspace import Workspace

router = APIRouter(tags=["Unsubscribe"])

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 4em auto;">
<h1>{title}</h1>
{body}
</body></html>
"""


class _NoMailer:
    """The outbox here only unsubscribes; it never sends."""

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> SendOutcome:
        raise RuntimeError("the unsubscribe endpoint does not send mail")

    async def close(self) -> None:
        return None


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status)


def _not_found() -> HTMLResponse:
    return _page("Link not recognised", "<p>This unsubscribe link is not valid.</p>", 404)


def _outbox(ws: Workspace) -> Outbox:
    return Outbox(ws.store, ws.engine, ws.settings, _NoMailer())


def _look(ws: Workspace, token: str) -> tuple[str | None, bool] | None:
    """(address the email went to, already unsubscribed), or None for a bad token."""
    delivery_id = verify_token(token, _outbox(ws).secret)
    delivery = ws.store.deliveries.get(delivery_id) if delivery_id is not None else None
    if delivery is None:
        return None
    person = ws.store.people.get(delivery.person_id)
    address = delivery.to_address or (person.email if person is not None else None)
    return address, person is None or person.unsubscribed


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def confirm(token: str, request: Request) -> HTMLResponse:
    """The confirmation page (a button that posts the one-click form)."""
    found = await api_state(request).backend.call(lambda ws: _look(ws, token))
    if found is None:
        return _not_found()
    address, done = found
    to = f" for <strong>{escape(address)}</strong>" if address else ""
    if done:
        return _page("Unsubscribed", f"<p>Campaign email{to} is off. Nothing more to do.</p>")
    form = (
        f"<p>Stop campaign email{to}?</p>"
        f'<form method="post" action="/unsubscribe/{escape(token)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe", form)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def one_click(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click unsubscribe (the body, if any, is not needed)."""
    state = api_state(request)
    now = state.clock.now_ms()
    try:
        delivery = await state.backend.call(lambda ws: _outbox(ws).unsubscribe(token, now))
    except NotFound:
        return _not_found()
    to = f" for <strong>{escape(delivery.to_address)}</strong>" if delivery.to_address else ""
    return _page("Unsubscribed", f"<p>Campaign email{to} is off.</p>")
