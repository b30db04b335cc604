"""Building the email a delivery sends, with the standard `email` package (DESIGN.md §4).

One `build_message` call gives a `multipart/alternative` message (text, then HTML, as
RFC 2046 §5.1.4 orders them: the preferred part last) with the headers Nudge promises:

- `Subject`, `From`, `To`, `Reply-To`: non-ASCII text is encoded per RFC 2047 (with
  `email.header.Header`); nothing taken from data ever starts a header line: subjects and
  display names are flattened to one line, and an address that is not exactly one
  well-formed address is refused (`InvalidAddress`), never repaired.
- `Date` (RFC 5322 §3.3) from a parameter: nothing here reads the clock.
- `Message-ID` derived from the delivery key (`message_id_for`): a retry after a crash
  carries the same id (DESIGN.md invariant 3). The MIME boundary derives from the key
  too, so the same inputs give byte-identical messages.
- `List-Unsubscribe: <https://...>, <mailto:...?subject=unsubscribe>` (RFC 2369 §3.2)
  and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058 §3.1, only when the
  URL is HTTPS, as that section requires).
- `X-Nudge-Delivery: <delivery key>`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP, Compat32, Policy
from email.utils import format_datetime
from typing import Any

from app.core.errors import NudgeError
from app.core.render import one_line

__all__ = [
    "POLICY",
    "Addresses",
    "InvalidAddress",
    "MessageError",
    "address",
    "build_message",
    "message_id_for",
    "parse_address",
    "resolve_addresses",
    "sender_and_recipients",
]


class MessageError(NudgeError):
    """A message that cannot be built as asked (bad URL, bad Message-ID domain)."""

    code = "message_error"


class InvalidAddress(MessageError):
    """An email address that is not exactly one well-formed address."""

    code = "invalid_address"


# -- the policy ---------------------------------------------------------------------------


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """`List-Unsubscribe`: a list of `<URI>`s, folded between items, never encoded.

    The stock unstructured header turns a token longer than the line limit (a long
    unsubscribe URL) into RFC 2047 encoded-words, which RFC 2047 §5 forbids in a
    structured field such as this one (RFC 2369) and which mail clients then do not
    recognise. Here each `<URI>` stays whole on its own line; a line may then exceed
    78 characters (a SHOULD), never 998 (a MUST, RFC 5322 §2.1.1: URLs are capped).
    """

    max_count = 1

    def fold(self, *, policy: Policy) -> str:
        items = re.findall(r"<[^<>]*>", str(self))
        if not items or ", ".join(items) != str(self):
            return super().fold(policy=policy)
        # The first item stays on the header line even when long: a parser that unfolds
        # "Name:CRLF <uri>" keeps a leading space in the value (Python's does).
        fold = "," + policy.linesep + " "
        return f"{self.name}: " + fold.join(items) + policy.linesep


class _HeaderClasses(HeaderRegistry):
    """The stock registry, building each header class once instead of once per header.

    `HeaderRegistry.__getitem__` creates a new class on every call: about a sixth of a
    message's build time. The classes are stateless, so caching them changes nothing
    in the output.
    """

    def __init__(self) -> None:
        super().__init__()
        self.map_to_type("list-unsubscribe", _UriListHeader)
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


#: The policy addresses are parsed with: `email.policy.SMTP` (CRLF line ends,
#: 78-character folding) with `cte_type="7bit"`, plus the two header fixes above.
#: Messages are built with `_WIRE` instead (see `_WirePolicy`).
POLICY = SMTP.clone(cte_type="7bit", header_factory=_HeaderClasses())

_parse_header = POLICY.header_factory


class _WirePolicy(Compat32):
    """The policy messages are built with: header values are stored already encoded.

    `build_message` encodes every header itself (RFC 2047 encoded-words for non-ASCII
    text, via `email.header.Header`) and folds it with LF + space; this policy only
    writes `Name: value` with its line ends (CRLF). That skips the
    `email.headerregistry` parse of every value, the most expensive step of building a
    message with the modern API (about half of its cost). Bodies are likewise stored
    encoded (7bit, quoted-printable or base64), so the message is 7-bit clean and
    needs no 8BITMIME from the server (RFC 6152).
    """

    def fold(self, name: str, value: Any) -> str:
        return f"{name}: {value}".replace("\n", self.linesep) + self.linesep

    def fold_binary(self, name: str, value: Any) -> bytes:
        return self.fold(name, value).encode("ascii")


_WIRE = _WirePolicy(linesep="\r\n", max_line_length=78, mangle_from_=False)


# -- addresses ----------------------------------------------------------------------------

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
#: A bare `local@domain` of a dot-atom local part and ASCII host labels: the RFC 5322
#: parser finds exactly this one address in it, with no display name and no defect.
_BARE = re.compile(rf"{_LOCAL_PART.pattern}@{_DOMAIN.pattern}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _ascii_domain(domain: str, original: object) -> str:
    if not domain.isascii():
        try:
            # IDNA 2003 (the stdlib codec): an internationalised domain as ASCII labels.
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidAddress(f"invalid email domain in {_shown(original)}") from None
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise InvalidAddress(f"invalid email domain in {_shown(original)}")
    return domain


def address(display_name: str | None, addr_spec: str) -> Address:
    """An address from a display name and an `local@domain` address.

    Args:
        display_name: any text (e.g. from an attribute); line breaks and control
            characters are flattened (`one_line`); non-ASCII is fine (RFC 2047 encodes
            it in the header).
        addr_spec: `local@domain`. The local part must be an ASCII dot-atom (RFC 5322
            §3.4.1; a non-ASCII local part needs SMTPUTF8, RFC 6531, which Nudge does
            not use); a non-ASCII domain is converted to IDNA.

    Returns:
        The address.

    Raises:
        InvalidAddress: for anything else, naming the value.
    """
    local, at, domain = addr_spec.strip().rpartition("@")
    if not at or len(local) > 64 or not _LOCAL_PART.fullmatch(local):  # RFC 5321 §4.5.3.1.1
        raise InvalidAddress(f"invalid email address {_shown(addr_spec)}")
    domain = _ascii_domain(domain, addr_spec)
    return Address(display_name=one_line(display_name or ""), username=local, domain=domain)


def parse_address(value: str | Address) -> Address:
    """Parse one address such as `eve@example.com` or `Ève Dupont <eve@example.com>`.

    Line breaks in the value become spaces first, then it is parsed with the `email`
    package's RFC 5322 parser and refused unless that finds exactly one address, in no
    group, with no defect. So `"eve@example.com\\r\\nBcc: victim@example.com"` is an
    error, not two headers and not a second recipient.

    Args:
        value: an address text, or an `Address` (checked the same way).

    Returns:
        The address, display name flattened to one line, domain in ASCII.

    Raises:
        InvalidAddress: naming the value.
    """
    if isinstance(value, Address):
        return address(value.display_name, value.addr_spec)
    if not isinstance(value, str) or not value.strip():
        raise InvalidAddress(f"missing email address ({_shown(value)})")
    return _parse_text(value)


@functools.lru_cache(maxsize=1024)
def _parse_text(value: str) -> Address:
    # Cached: the same From / Reply-To recurs for a whole campaign, and the parser costs
    # about 0.1 ms a go. `Address` is immutable; a refused value raises, never cached.
    if _BARE.fullmatch(value):
        # The usual person's email: what the parser would find, without parsing.
        return address("", value)
    try:
        header = _parse_header("to", one_line(value))
    except Exception:  # the stdlib parser raises IndexError on some inputs ("eve@")
        raise InvalidAddress(f"not one valid email address: {_shown(value)}") from None
    groups = header.groups
    if (
        header.defects
        or len(groups) != 1
        or groups[0].display_name is not None
        or len(groups[0].addresses) != 1
    ):
        raise InvalidAddress(f"not one valid email address: {_shown(value)}")
    found: Address = groups[0].addresses[0]
    return address(found.display_name, found.addr_spec)


@dataclass(frozen=True, slots=True)
class Addresses:
    """Who a message goes to and comes from, before parsing.

    Attributes:
        to: the recipient, or None when there is none (the delivery is `suppressed`).
        from_: the From address (`Name <addr>` or `addr`).
        reply_to: the Reply-To address, or None for none.
    """

    to: str | None
    from_: str
    reply_to: str | None

    def envelope(self) -> tuple[str, list[str]]:
        """The SMTP envelope of these addresses (`sender_and_recipients`).

        Raises:
            InvalidAddress: when there is no recipient, or an address is malformed.
        """
        if self.to is None:
            raise InvalidAddress("no recipient email address")
        return sender_and_recipients(self.from_, self.to)


def _override(properties: Mapping[str, Any], name: str) -> str | None:
    value = properties.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidAddress(
            f"event property {name!r} must be an email address, not {_shown(value)}"
        )
    return value.strip() or None


def resolve_addresses(
    person_email: str | None,
    campaign_from: str | None,
    campaign_reply_to: str | None,
    settings_from: str,
    event_properties: Mapping[str, Any] | None,
) -> Addresses:
    """Pick To, From and Reply-To by Customer.io's precedence.

    Customer.io: the trigger event's `recipient`, `from_address` and `reply_to`
    properties override the person's email and the message's From / Reply-To. So, for
    each: event property > the send step (`SendSpec.from` / `reply_to`, campaign) >
    settings (`smtp.from_address`; there is no default Reply-To). A missing, null or
    blank value falls through to the next source. The values are not parsed here:
    `build_message` and `sender_and_recipients` check them.

    Args:
        person_email: the person's `email`, or None.
        campaign_from: the step's `from`, or None.
        campaign_reply_to: the step's `reply_to`, or None.
        settings_from: `Settings.smtp.from_address`.
        event_properties: the trigger event's properties, or None for a non-event trigger.

    Returns:
        The chosen addresses.

    Raises:
        InvalidAddress: when one of the three event properties is present but not a
            string (a number, a list): sending to the person instead would be a guess.
    """
    props = event_properties or {}
    to = _override(props, "recipient") or (person_email or "").strip() or None
    from_ = _override(props, "from_address") or (campaign_from or "").strip() or settings_from
    reply_to = _override(props, "reply_to") or (campaign_reply_to or "").strip() or None
    return Addresses(to=to, from_=from_, reply_to=reply_to)


def sender_and_recipients(
    from_address: str | Address, to_address: str | Address
) -> tuple[str, list[str]]:
    """The SMTP envelope (RFC 5321 `MAIL FROM` and `RCPT TO`) of a message.

    Args:
        from_address: the From address (`Name <addr>` or `addr`).
        to_address: the To address.

    Returns:
        `(envelope sender, [envelope recipient])`, bare `local@domain` forms.

    Raises:
        InvalidAddress: when either is not one valid address.
    """
    return parse_address(from_address).addr_spec, [parse_address(to_address).addr_spec]


# -- headers ------------------------------------------------------------------------------


def _key_hash(purpose: str, key: str) -> str:
    return hashlib.sha256(f"{purpose}{key}".encode()).hexdigest()


def message_id_for(key: str, domain: str) -> str:
    """The Message-ID of a delivery: `<first 32 hex digits of sha256(key)@domain>`.

    The same key always gives the same id (DESIGN.md invariant 3), so a message
    retried after a crash is recognisably the same message; 128 bits of hash make ids
    of different keys collide with negligible probability (RFC 5322 §3.6.4 asks for
    global uniqueness).

    Args:
        key: the delivery key.
        domain: the right-hand side, usually the From address's domain.

    Returns:
        e.g. `message_id_for("welcome/12/hello", "example.com")` is
        `<84e57da8ddd785102339e104211415d4@example.com>`.

    Raises:
        MessageError: for a domain that is not a host name.
    """
    try:
        ascii_domain = _ascii_domain(domain, domain)
    except InvalidAddress:
        raise MessageError(f"invalid Message-ID domain {_shown(domain)}") from None
    return f"<{_key_hash('', key)[:32]}@{ascii_domain}>"


_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII, no <, > or space


_URL = re.compile(r"https?://[!#-;=?-\[\]_a-z~]+", re.I)  # RFC 3986 characters, no <>"\


def _list_unsubscribe(url: str | None, mailto: str | None) -> tuple[str | None, bool]:
    items: list[str] = []
    if url is not None:
        if len(url) > 900 or not _URL.fullmatch(url):
            raise MessageError(f"invalid unsubscribe URL {_shown(url)}")
        items.append(f"<{url}>")
    if mailto is not None:
        mailbox = parse_address(mailto.removeprefix("mailto:")).addr_spec
        items.append(f"<mailto:{mailbox}?subject=unsubscribe>")
    one_click = url is not None and url[:8].lower() == "https://"
    return (", ".join(items) or None), one_click


def _boundary(key: str, parts: tuple[str, ...]) -> str:
    # `=_` cannot occur in quoted-printable output (a literal `=` is `=3D`) nor in
    # base64; a 7bit part is checked (RFC 2046 §5.1.1: the boundary must not occur in
    # the parts).
    boundary = f"=_nudge_{_key_hash('boundary:', key)[:32]}"
    while any(boundary in part for part in parts):
        boundary += "_"
    return boundary


_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters


@functools.lru_cache(maxsize=64)
def _date_header(seconds: int) -> str:
    # Cached: the messages of one scheduler pass share their second, and formatting one
    # costs several microseconds.
    return format_datetime(datetime.fromtimestamp(seconds, tz=UTC))


def _unstructured(name: str, value: str) -> str:
    """An unstructured header value (one line, `one_line`), encoded and folded."""
    room = _LINE - len(name) - 2
    if value.isascii() and "=?" not in value:
        if len(value) <= room:
            return value
        if max(map(len, value.split(" "))) <= room:
            # Folded at spaces only: unfolding (RFC 5322 §2.2.3) gives the value back.
            return Header(value, header_name=name).encode(
                splitchars=" ", maxlinelen=_LINE, linesep="\n"
            )
    # RFC 2047 encoded-words, split to fit the line: non-ASCII text, text that would
    # otherwise read as an encoded-word, or a word too long for a line.
    return Header(value, "utf-8", header_name=name).encode(maxlinelen=_LINE, linesep="\n")


_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


def _mailbox(name: str, found: Address) -> str:
    """`Name <local@domain>` (RFC 5322 §3.4), the display name quoted or RFC 2047-encoded."""
    spec = found.addr_spec  # ASCII: a dot-atom local part, an IDNA domain
    shown = found.display_name
    if not shown:
        return spec
    if shown.isascii() and "=?" not in shown:
        if _SPECIALS.search(shown):
            shown = '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'
        value = f"{shown} <{spec}>"
        if len(value) <= _LINE - len(name) - 2:
            return value
        if max(map(len, value.split(" "))) <= _LINE - len(name) - 2:
            # Folded at spaces only (FWS, RFC 5322 §3.2.2 and §3.2.4).
            return Header(value, header_name=name).encode(
                splitchars=" ", maxlinelen=_LINE, linesep="\n"
            )
        shown = found.display_name  # a word too long for a line: encoded-words, which fold
    header = Header(header_name=name)
    header.append(shown, "utf-8")
    header.append(f"<{spec}>", "us-ascii")
    return header.encode(maxlinelen=_LINE, linesep="\n")


def _text_part(subtype: str, content: str) -> EmailMessage:
    """A `text/<subtype>` part in UTF-8, 7-bit clean: 7bit, quoted-printable or base64.

    Line breaks become LF here (CRLF on the wire); text that is ASCII with short lines
    stays as is (7bit), anything else goes quoted-printable or base64, whichever is
    shorter (RFC 2045 §6: both keep lines within 76 characters).
    """
    lines = content.encode("utf-8").splitlines()
    body = b"\n".join(lines) + b"\n"
    if body.isascii() and max(map(len, lines), default=0) <= _LINE:
        cte, payload = "7bit", body
    else:
        qp = binascii.b2a_qp(body, istext=True)
        # Base64 text carries its line breaks encoded: CRLF, the canonical form (RFC 2045
        # §6.8, RFC 2046 §4.1.1).
        b64 = binascii.b2a_base64(b"\r\n".join(lines) + b"\r\n", newline=False)
        b64 = b"\n".join(b64[i : i + 76] for i in range(0, len(b64), 76)) + b"\n"
        cte, payload = ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)
    part = EmailMessage(policy=_WIRE)
    part.set_raw("Content-Type", f'text/{subtype}; charset="utf-8"')
    part.set_raw("Content-Transfer-Encoding", cte)
    part.set_payload(payload.decode("ascii"))
    return part


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    from_address: str | Address,
    to_address: str | Address,
    reply_to: str | Address | None = None,
    date_ms: int,
    delivery_key: str,
    unsubscribe_url: str | None = None,
    unsubscribe_mailto: str | None = None,
    message_id_domain: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """Build the message of one delivery.

    Args:
        subject: the rendered subject; flattened to one line, RFC 2047-encoded when not
            ASCII.
        text: the `text/plain` part.
        html: the `text/html` part.
        from_address: From (`Name <addr>`, `addr` or an `Address`).
        to_address: To.
        reply_to: Reply-To, or None for none.
        date_ms: the Date header, milliseconds since the epoch, UTC (second precision
            in the header).
        delivery_key: the delivery's key: Message-ID, MIME boundary, `X-Nudge-Delivery`.
        unsubscribe_url: the one-click URL (`unsubscribe.unsubscribe_url`), or None.
        unsubscribe_mailto: an address for `List-Unsubscribe`'s mailto, or None.
        message_id_domain: the Message-ID's domain; default: the From address's domain.
        message_id: a Message-ID to use as is (`<left@right>`), e.g. the one stored
            with the delivery at its first attempt, so that a retry keeps it even if
            the From address changed meanwhile; default: `message_id_for(delivery_key,
            domain)`.

    Returns:
        The message, headers and bodies stored encoded (`_WirePolicy`); `msg.as_bytes()`
        gives the wire form (CRLF).

    Raises:
        InvalidAddress: for a From, To, Reply-To or mailto that is not one valid address.
        MessageError: for an invalid unsubscribe URL, Message-ID or Message-ID domain.
    """
    if message_id is not None and not _MESSAGE_ID.fullmatch(message_id):
        raise MessageError(f"invalid Message-ID {_shown(message_id)}")
    sender = parse_address(from_address)
    recipient = parse_address(to_address)
    answer_to = None if reply_to is None else parse_address(reply_to)
    list_unsubscribe, one_click = _list_unsubscribe(unsubscribe_url, unsubscribe_mailto)
    boundary = _boundary(delivery_key, (text, html))

    msg = EmailMessage(policy=_WIRE)
    msg.set_raw("Subject", _unstructured("Subject", one_line(subject)))
    msg.set_raw("From", _mailbox("From", sender))
    msg.set_raw("To", _mailbox("To", recipient))
    if answer_to is not None:
        msg.set_raw("Reply-To", _mailbox("Reply-To", answer_to))
    msg.set_raw("Date", _date_header(date_ms // 1000))
    msg.set_raw(
        "Message-ID",
        message_id or message_id_for(delivery_key, message_id_domain or sender.domain),
    )
    if list_unsubscribe is not None:
        # Folded between items only, never inside one (see `_UriListHeader`); the first
        # stays on the header line. URIs hold no `<` or `>` (checked above).
        msg.set_raw("List-Unsubscribe", list_unsubscribe.replace(">, <", ">,\n <"))
        if one_click:
            msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    msg.set_raw("X-Nudge-Delivery", _unstructured("X-Nudge-Delivery", one_line(delivery_key)))
    msg.set_raw("MIME-Version", "1.0")
    msg.set_raw("Content-Type", f'multipart/alternative;\n boundary="{boundary}"')
    msg.set_payload([_text_part("plain", text), _text_part("html", html)])
    return msg
