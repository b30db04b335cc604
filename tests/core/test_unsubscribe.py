from __future__ import annotations

from urllib.parse import quote

import pytest

from app.core.unsubscribe import make_token, unsubscribe_url, verify_token

SECRET = b"s3cret"
# Worked out with openssl, independently of the code:
#   printf 'nudge-unsubscribe-v1:42' | openssl dgst -sha256 -hmac s3cret -binary \
#     | head -c16 | base64 | tr '+/' '-_' | tr -d '='
TOKEN_42 = "42.PIw0HLEQ-8cGLOQkf-x8cA"


def test_token_is_the_id_and_a_truncated_hmac() -> None:
    assert make_token(42, SECRET) == TOKEN_42


def test_token_round_trips() -> None:
    for delivery_id in (1, 42, 9_223_372_036_854_775_807):
        assert verify_token(make_token(delivery_id, SECRET), SECRET) == delivery_id


def test_token_is_url_safe() -> None:
    token = make_token(123456, SECRET)
    assert quote(token, safe="") == token


def test_tampered_mac_is_rejected() -> None:
    flipped = TOKEN_42[:-1] + ("B" if TOKEN_42[-1] != "B" else "C")
    assert verify_token(flipped, SECRET) is None


def test_token_moved_to_another_id_is_rejected() -> None:
    mac = TOKEN_42.split(".", 1)[1]
    assert verify_token(f"43.{mac}", SECRET) is None


def test_token_under_another_secret_is_rejected() -> None:
    assert verify_token(TOKEN_42, b"another secret") is None


def test_other_spellings_of_the_same_mac_are_rejected() -> None:
    # 16 bytes in 22 base64 characters leave 4 unused bits in the last one: "A" and "B"
    # decode alike when those bits differ; only the canonical spelling is valid.
    forged = make_token(7, SECRET)
    last = forged[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 1]
    assert verify_token(forged[:-1] + sibling, SECRET) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "42",
        "42.",
        ".PIw0HLEQ-8cGLOQkf-x8cA",
        "042.PIw0HLEQ-8cGLOQkf-x8cA",  # leading zero: one id, one spelling
        "+42.PIw0HLEQ-8cGLOQkf-x8cA",
        "-42.PIw0HLEQ-8cGLOQkf-x8cA",
        "42.PIw0HLEQ-8cGLOQkf-x8cA==",  # padding
        "42.PIw0HLEQ-8cGLOQkf-x8cA ",
        " 42.PIw0HLEQ-8cGLOQkf-x8cA",
        "42.PIw0HLEQ+8cGLOQkf/x8cA",  # standard base64, not base64url
        "42.PIw0HLEQ-8cGLOQkf-x8c",  # truncated
        "42.42.PIw0HLEQ-8cGLOQkf-x8cA",
        "4.2e1.PIw0HLEQ-8cGLOQkf-x8cA",
        "٤٢.PIw0HLEQ-8cGLOQkf-x8cA",  # Arabic-Indic digits that int() would accept
        "99999999999999999999.PIw0HLEQ-8cGLOQkf-x8cA",
    ],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    assert verify_token(token, SECRET) is None


@pytest.mark.parametrize("delivery_id", [0, -1, True])
def test_make_token_needs_a_positive_id(delivery_id: int) -> None:
    with pytest.raises(ValueError):
        make_token(delivery_id, SECRET)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        make_token(1, b"")
    with pytest.raises(ValueError):
        verify_token(TOKEN_42, b"")


@pytest.mark.parametrize("base", ["https://nudge.example.com", "https://nudge.example.com/"])
def test_unsubscribe_url(base: str) -> None:
    assert unsubscribe_url(base, TOKEN_42) == (
        "https://nudge.example.com/unsubscribe/42.PIw0HLEQ-8cGLOQkf-x8cA"
    )
