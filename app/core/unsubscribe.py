"""Unsubscribe tokens: one signed, unguessable token per delivery (issue 5, item 7).

A token is `<delivery id>.<mac>`: the id in decimal and a truncated HMAC-SHA256 of it
under the workspace secret, base64url without padding. The id is readable so that the
server can find the delivery; only the holder of the secret can make a valid mac, so a
token cannot be guessed from an id or changed into another delivery's token.

Pure: the caller passes the secret in (`Settings.secret_key`, or the generated one the
store keeps).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["MAC_BYTES", "make_token", "unsubscribe_url", "verify_token"]

#: Bytes of HMAC-SHA256 kept: 128 bits. RFC 2104 §5 allows truncating to at least half
#: the hash length (and at least 80 bits); 22 base64url characters keep URLs short.
MAC_BYTES = 16

# Domain separation: a mac made here means "unsubscribe this delivery" and nothing else,
# even if the same secret signs other things later.
_PURPOSE = b"nudge-unsubscribe-v1:"
_TOKEN = re.compile(r"([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{22})")


def _mac(delivery_id: int, secret: bytes) -> str:
    if not secret:
        raise ValueError("the unsubscribe secret must not be empty")
    digest = hmac.new(secret, _PURPOSE + str(delivery_id).encode("ascii"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:MAC_BYTES]).rstrip(b"=").decode("ascii")


def make_token(delivery_id: int, secret: bytes) -> str:
    """The unsubscribe token of a delivery.

    Args:
        delivery_id: the delivery's row id, a positive integer.
        secret: the workspace secret (at least 16 random bytes advised).

    Returns:
        `<id>.<mac>`, URL-safe (`[0-9]`, `.`, base64url), e.g. `42.` + 22 characters.

    Raises:
        ValueError: for an id below 1 or an empty secret.
    """
    if isinstance(delivery_id, bool) or delivery_id < 1:
        raise ValueError(f"a delivery id is a positive integer, not {delivery_id!r}")
    return f"{delivery_id}.{_mac(delivery_id, secret)}"


def verify_token(token: str, secret: bytes) -> int | None:
    """The delivery id a token was made for, or None when the token is not genuine.

    Only the exact form `make_token` produces is accepted (no sign, no leading zero, no
    padding, nothing around it), so each delivery has exactly one valid token. The mac
    is compared in constant time (`hmac.compare_digest`), so timing reveals nothing
    about how much of a forged mac was right.

    Args:
        token: the token from the URL path.
        secret: the workspace secret it was made with.

    Returns:
        The delivery id, or None for a malformed, tampered or forged token.
    """
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        return None
    delivery_id = int(match.group(1))
    # Comparing the canonical text (not decoded bytes) also rejects the 15 other spellings
    # of the last base64 character that decode to the same mac.
    if not hmac.compare_digest(match.group(2), _mac(delivery_id, secret)):
        return None
    return delivery_id


def unsubscribe_url(public_url: str, token: str) -> str:
    """The one-click unsubscribe URL of a token: `{public_url}/unsubscribe/{token}`.

    Args:
        public_url: the base URL people reach Nudge at (`Settings.public_url`); a
            trailing slash is ignored.
        token: from `make_token`.

    Returns:
        e.g. `https://nudge.example.com/unsubscribe/42.AbC...`.
    """
    return f"{public_url.rstrip('/')}/unsubscribe/{token}"
