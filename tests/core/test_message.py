from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest

from app.core.errors import NudgeError
from app.core.message import (
    Addresses,
    InvalidAddress,
    MessageError,
    address,
    build_message,
    message_id_for,
    parse_address,
    resolve_addresses,
    sender_and_recipients,
)
from app.core.render import RenderContext, Renderer

#: 2026-11-01T00:00:00.123Z, a Sunday (2026-01-01 is a Thursday; Nov 1 is 304 days later,
#: 304 = 43 weeks + 3 days).
DATE_MS = 1_793_491_200_123
KEY = "welcome/12/hello"
#: `printf 'welcome/12/hello' | sha256sum`, first 32 hex digits.
KEY_HASH = "84e57da8ddd785102339e104211415d4"
URL = "https://nudge.example.com/unsubscribe/42.PIw0HLEQ-8cGLOQkf-x8cA"


def build(**overrides: Any) -> EmailMessage:
    args: dict[str, Any] = {
        "subject": "Welcome",
        "text": "Hi Eve\n",
        "html": "<p>Hi Eve</p>\n",
        "from_address": "Nudge <nudge@example.com>",
        "to_address": "eve@example.com",
        "date_ms": DATE_MS,
        "delivery_key": KEY,
        "unsubscribe_url": URL,
        "unsubscribe_mailto": "unsubscribe@example.com",
    }
    args.update(overrides)
    return build_message(**args)


def wire(msg: EmailMessage) -> bytes:
    return msg.as_bytes()


def parsed(msg: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(wire(msg), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# -- headers ------------------------------------------------------------------------------


def test_headers_as_parsed_back() -> None:
    msg = parsed(build(reply_to="Support <help@example.com>"))
    assert msg.keys() == [
        "Subject",
        "From",
        "To",
        "Reply-To",
        "Date",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "X-Nudge-Delivery",
        "MIME-Version",
        "Content-Type",
    ]
    assert msg["Subject"] == "Welcome"
    assert msg["From"] == "Nudge <nudge@example.com>"
    assert msg["To"] == "eve@example.com"
    assert msg["Reply-To"] == "Support <help@example.com>"
    assert msg["Date"] == "Sun, 01 Nov 2026 00:00:00 +0000"
    assert msg["Message-ID"] == f"<{KEY_HASH}@example.com>"
    assert msg["X-Nudge-Delivery"] == KEY


def test_no_reply_to_unless_given() -> None:
    assert "Reply-To" not in parsed(build())


def test_list_unsubscribe_headers_are_exact() -> None:
    msg = parsed(build())
    assert msg["List-Unsubscribe"] == (
        f"<{URL}>, <mailto:unsubscribe@example.com?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_long_unsubscribe_url_is_never_encoded() -> None:
    # The stock folder would turn a token longer than 78 characters into RFC 2047
    # encoded-words, which a structured field must not contain (RFC 2047 §5).
    long_url = "https://nudge.example.com/" + "a/" * 60 + "unsubscribe/42.PIw0HLEQ-8cGLOQkf-x8cA"
    raw = wire(build(unsubscribe_url=long_url))
    line = next(x for x in raw.split(b"\r\n") if x.startswith(b"List-Unsubscribe:"))
    assert line == f"List-Unsubscribe: <{long_url}>,".encode()
    assert b"=?" not in line
    assert parsed(build(unsubscribe_url=long_url))["List-Unsubscribe"].startswith(f"<{long_url}>")


def test_one_click_only_with_an_https_url() -> None:
    # RFC 8058 §3.1: the List-Unsubscribe field MUST contain one HTTPS URI.
    msg = parsed(build(unsubscribe_url="http://127.0.0.1:8080/unsubscribe/42.x"))
    assert msg["List-Unsubscribe"] == (
        "<http://127.0.0.1:8080/unsubscribe/42.x>, "
        "<mailto:unsubscribe@example.com?subject=unsubscribe>"
    )
    assert "List-Unsubscribe-Post" not in msg


def test_list_unsubscribe_variants() -> None:
    only_url = parsed(build(unsubscribe_mailto=None))
    assert only_url["List-Unsubscribe"] == f"<{URL}>"
    assert only_url["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    only_mailto = parsed(build(unsubscribe_url=None, unsubscribe_mailto="mailto:u@example.com"))
    assert only_mailto["List-Unsubscribe"] == "<mailto:u@example.com?subject=unsubscribe>"
    assert "List-Unsubscribe-Post" not in only_mailto
    neither = parsed(build(unsubscribe_url=None, unsubscribe_mailto=None))
    assert "List-Unsubscribe" not in neither


@pytest.mark.parametrize(
    "url",
    [
        "https://x.example/u nsub",
        "https://x.example/a>, <https://evil.example/",
        "https://x.example/\r\nBcc: victim@example.com",
        "javascript:alert(1)",
        "https://x.example/é",
    ],
)
def test_bad_unsubscribe_url_is_refused(url: str) -> None:
    with pytest.raises(MessageError, match="invalid unsubscribe URL"):
        build(unsubscribe_url=url)


def test_non_ascii_subject_round_trips_rfc2047_encoded() -> None:
    subject = "Bienvenue, Ève — ça marche ✓ 日本語の件名もだいじょうぶ、長くても折り返されます"
    msg = build(subject=subject)
    raw = wire(msg)
    assert raw.isascii()
    assert b"=?utf-8?" in raw
    assert parsed(msg)["Subject"] == subject


def test_non_ascii_display_names_round_trip() -> None:
    msg = parsed(
        build(
            from_address="Équipe Nudge <nudge@example.com>",
            to_address=address("Zoë Ågren", "zoe@example.com"),
        )
    )
    assert msg["From"] == "Équipe Nudge <nudge@example.com>"
    assert msg["To"] == "Zoë Ågren <zoe@example.com>"


def test_message_id_is_derived_from_the_key() -> None:
    assert message_id_for(KEY, "example.com") == f"<{KEY_HASH}@example.com>"
    assert message_id_for(KEY, "example.com") == message_id_for(KEY, "example.com")
    # `printf 'welcome/13/hello' | sha256sum` starts 07e56049cf60a682...
    assert message_id_for("welcome/13/hello", "example.com") == (
        "<07e56049cf60a68284413004dd3668ba@example.com>"
    )


def test_message_id_domain_defaults_to_the_from_domain() -> None:
    assert parsed(build(from_address="a@mail.example.org"))["Message-ID"] == (
        f"<{KEY_HASH}@mail.example.org>"
    )
    assert parsed(build(message_id_domain="ids.example.net"))["Message-ID"] == (
        f"<{KEY_HASH}@ids.example.net>"
    )


def test_a_stored_message_id_is_kept() -> None:
    stored = "<84e57da8ddd785102339e104211415d4@old-domain.example>"
    msg = parsed(build(from_address="new@new-domain.example", message_id=stored))
    assert msg["Message-ID"] == stored


@pytest.mark.parametrize(
    "message_id", ["", "abc@example.com", "<abc>", "<a b@example.com>", "<a@b>\r\nBcc: v@x.example"]
)
def test_a_malformed_message_id_is_refused(message_id: str) -> None:
    with pytest.raises(MessageError, match="invalid Message-ID"):
        build(message_id=message_id)


@pytest.mark.parametrize(
    "domain", ["", "exa mple.com", "example.com>", "ex\r\nample.com", "-x.com"]
)
def test_message_id_refuses_a_bad_domain(domain: str) -> None:
    with pytest.raises(MessageError, match="invalid Message-ID domain"):
        message_id_for(KEY, domain)


def test_same_inputs_give_the_same_bytes() -> None:
    # The MIME boundary derives from the key too: a retried message is byte-identical.
    assert wire(build()) == wire(build())
    assert wire(build()) != wire(build(delivery_key="welcome/13/hello"))


# -- header injection ---------------------------------------------------------------------

INJECTED = "Eve\r\nBcc: victim@example.com"


def test_newlines_in_attributes_never_make_a_header() -> None:
    renderer = Renderer({"hello": ("<p>Hi {{ person.first_name }}</p>", None)})
    ctx = RenderContext.build(
        person_id="p1",
        email="eve@example.com",
        attributes={"first_name": INJECTED},
        event={},
        campaign_id="welcome",
        campaign_name="Welcome",
        unsubscribe_url=URL,
    )
    rendered = renderer.render("hello", "Hi {{ person.first_name }}", ctx)
    msg = build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        from_address=address(INJECTED, "nudge@example.com"),
        to_address=address(INJECTED, "eve@example.com"),
        reply_to=address(INJECTED, "help@example.com"),
        date_ms=DATE_MS,
        delivery_key="welcome/12/hello\r\nBcc: victim@example.com",
        unsubscribe_url=URL,
    )
    raw = wire(msg)
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    names = [
        line.split(b":", 1)[0].lower()
        for line in header_block.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    ]
    assert b"bcc" not in names
    back = parsed(msg)
    assert "Bcc" not in back
    assert back.keys().count("To") == 1
    assert back["Subject"] == "Hi Eve Bcc: victim@example.com"
    assert back["To"].addresses[0].addr_spec == "eve@example.com"
    assert back["To"].addresses[0].display_name == "Eve Bcc: victim@example.com"
    assert [a.addr_spec for a in back["From"].addresses] == ["nudge@example.com"]
    assert back["X-Nudge-Delivery"] == "welcome/12/hello Bcc: victim@example.com"


def test_newline_subject_passed_straight_in_is_flattened() -> None:
    back = parsed(build(subject=INJECTED))
    assert "Bcc" not in back
    assert back["Subject"] == "Eve Bcc: victim@example.com"


@pytest.mark.parametrize(
    "value",
    [
        "eve@example.com\r\nBcc: victim@example.com",
        "Eve\r\nBcc: victim@example.com <eve@example.com>",
        "eve@example.com\nTo: victim@example.com",
        "eve@example.com, victim@example.com",
        "Group: eve@example.com;",
        "alice@example.org)<bob@example.org>",
        "plain",
        "",
        "   ",
        "@example.com",
        "eve@",
        "eve@@example.com",
        "eve..x@example.com",
        "zoë@example.com",  # needs SMTPUTF8
        "eve@-example.com",
        "eve@example..com",
        "eve@[127.0.0.1]",
        '"eve x"@example.com',
    ],
)
def test_malformed_addresses_are_refused(value: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(value)
    assert isinstance(caught.value, NudgeError)
    assert caught.value.code == "invalid_address"
    assert "\n" not in caught.value.message


def test_malformed_to_address_refuses_the_message() -> None:
    with pytest.raises(InvalidAddress):
        build(to_address="eve@example.com\r\nBcc: victim@example.com")


@pytest.mark.parametrize(
    ("value", "display_name", "addr_spec"),
    [
        ("eve@example.com", "", "eve@example.com"),
        ("<eve@example.com>", "", "eve@example.com"),
        ("Eve <eve@example.com>", "Eve", "eve@example.com"),
        ('"Dupont, Ève" <eve@example.com>', "Dupont, Ève", "eve@example.com"),
        ("Ève Dupont <eve+news@mail.example.com>", "Ève Dupont", "eve+news@mail.example.com"),
        ("  eve@example.com  ", "", "eve@example.com"),
        ("root@localhost", "", "root@localhost"),
        ("eve@bücher.example", "", "eve@xn--bcher-kva.example"),  # IDNA
    ],
)
def test_valid_addresses(value: str, display_name: str, addr_spec: str) -> None:
    parsed_address = parse_address(value)
    assert (parsed_address.display_name, parsed_address.addr_spec) == (display_name, addr_spec)


@pytest.mark.parametrize(
    "value",
    [
        "eve@example.com",
        "Eve.O'Hara+news@mail.example.com",
        "a!#$%&'*/=?^_`{|}~-z@x-1.example",
        "root@localhost",
        "1@2.3",
        f"{'e' * 65}@example.com",
        f"eve@{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 63}.example",
    ],
)
def test_a_bare_address_is_what_the_parser_finds(value: str) -> None:
    # A bare `local@domain` skips the RFC 5322 parser; `<...>` goes through it.
    try:
        expected: object = parse_address(f"<{value}>")
    except InvalidAddress as exc:
        expected = exc.message
    try:
        found: object = parse_address(value)
    except InvalidAddress as exc:
        found = exc.message
    assert found == expected


def test_address_flattens_the_display_name() -> None:
    made = address("Eve\r\n\tDupont", "eve@example.com")
    assert (made.display_name, made.addr_spec) == ("Eve Dupont", "eve@example.com")
    with pytest.raises(InvalidAddress):
        address("Eve", "eve@example.com\r\nBcc: victim@example.com")


def test_envelope_of_resolved_addresses() -> None:
    resolved = resolve_addresses("eve@example.com", None, None, SETTINGS_FROM, None)
    assert resolved.envelope() == ("nudge@example.com", ["eve@example.com"])
    with pytest.raises(InvalidAddress, match="no recipient"):
        resolve_addresses(None, None, None, SETTINGS_FROM, None).envelope()


def test_sender_and_recipients() -> None:
    assert sender_and_recipients("Nudge <nudge@example.com>", "Ève <eve@example.com>") == (
        "nudge@example.com",
        ["eve@example.com"],
    )
    with pytest.raises(InvalidAddress):
        sender_and_recipients("nudge@example.com", "a@example.com, b@example.com")


# -- body ---------------------------------------------------------------------------------


def test_multipart_alternative_text_then_html() -> None:
    msg = parsed(build(text="Hi Ève\n", html="<p>Hi Ève</p>\n"))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    # The wire form has CRLF line ends and the parser keeps them in the content.
    contents = [p.get_content().replace("\r\n", "\n") for p in parts]
    assert contents == ["Hi Ève\n", "<p>Hi Ève</p>\n"]


def test_wire_form_is_7bit_crlf_and_short_lined() -> None:
    long_line = "Ünïcödé " * 300
    raw = wire(build(text=long_line, html=f"<p>{long_line}</p>"))
    assert raw.isascii()  # no 8BITMIME needed (RFC 6152)
    assert raw.count(b"\n") == raw.count(b"\r\n")  # SMTP line ends (RFC 5321 §2.3.8)
    # RFC 5322 §2.1.1 (78, SHOULD; 998, MUST) and RFC 2045 §6.7 (76 for quoted-printable,
    # MUST). Only List-Unsubscribe may pass 78: its URL is never split (RFC 2369).
    lines = raw.split(b"\r\n")
    assert max(len(line) for line in lines if not line.startswith(b"List-Unsubscribe:")) <= 78
    assert max(len(line) for line in lines) <= 998
    body = parsed(build(text=long_line)).get_body(("plain",))
    assert body is not None
    assert body.get_content() == long_line + "\r\n"


# -- who from, who to ---------------------------------------------------------------------

SETTINGS_FROM = "Nudge <nudge@example.com>"


@pytest.mark.parametrize(
    ("person_email", "campaign_from", "campaign_reply_to", "event", "expected"),
    [
        # settings only
        (
            "eve@example.com",
            None,
            None,
            None,
            Addresses("eve@example.com", SETTINGS_FROM, None),
        ),
        # the step's From / Reply-To win over settings
        (
            "eve@example.com",
            "Team <team@example.com>",
            "help@example.com",
            {},
            Addresses("eve@example.com", "Team <team@example.com>", "help@example.com"),
        ),
        # event properties win over everything (Customer.io)
        (
            "eve@example.com",
            "Team <team@example.com>",
            "help@example.com",
            {
                "recipient": "boss@example.com",
                "from_address": "Sales <sales@example.com>",
                "reply_to": "sales@example.com",
            },
            Addresses("boss@example.com", "Sales <sales@example.com>", "sales@example.com"),
        ),
        # null or blank properties fall through
        (
            "eve@example.com",
            "Team <team@example.com>",
            None,
            {"recipient": None, "from_address": "  ", "reply_to": ""},
            Addresses("eve@example.com", "Team <team@example.com>", None),
        ),
        # an email-less person gets a recipient only from the event
        (None, None, None, {}, Addresses(None, SETTINGS_FROM, None)),
        (
            None,
            None,
            None,
            {"recipient": "x@example.com"},
            Addresses("x@example.com", SETTINGS_FROM, None),
        ),
        # blank step values fall through too
        ("  ", "", " ", {}, Addresses(None, SETTINGS_FROM, None)),
    ],
)
def test_resolve_addresses_precedence(
    person_email: str | None,
    campaign_from: str | None,
    campaign_reply_to: str | None,
    event: dict[str, Any] | None,
    expected: Addresses,
) -> None:
    got = resolve_addresses(person_email, campaign_from, campaign_reply_to, SETTINGS_FROM, event)
    assert got == expected


@pytest.mark.parametrize("prop", ["recipient", "from_address", "reply_to"])
def test_resolve_addresses_refuses_non_string_overrides(prop: str) -> None:
    with pytest.raises(InvalidAddress, match=prop):
        resolve_addresses("eve@example.com", None, None, SETTINGS_FROM, {prop: ["a@example.com"]})
