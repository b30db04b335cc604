"""Who may call the Track API: HTTP Basic, as Customer.io and Segment do it.

* Customer.io: user name `api_site_id`, password one of `api_keys`.
* Segment and RudderStack: user name one of `api_keys` (the write key), empty password;
  or, without an Authorization header, `writeKey` in the JSON body.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import Request

from app.api.errors import ApiError
from app.config import Settings


class Credentials:
    """The accepted keys, compared in constant time.

    Args:
        settings: `api_site_id` and `api_keys`.
    """

    def __init__(self, settings: Settings) -> None:
        self.site_id = settings.api_site_id
        self.keys = [k for k in settings.api_keys if k]

    def _known(self, key: str) -> bool:
        # Every key is compared, so timing does not tell which one nearly matched.
        found = False
        for candidate in self.keys:
            found |= hmac.compare_digest(candidate.encode(), key.encode())
        return found

    def accepts(self, user: str, password: str) -> bool:
        """Whether a Basic user name and password are a site id and key, or a write key."""
        if password == "":
            return self._known(user)
        return hmac.compare_digest(user.encode(), self.site_id.encode()) and self._known(password)

    def check(self, request: Request, body_key: object = None) -> None:
        """Let the request through or refuse it.

        Args:
            request: its Authorization header is read.
            body_key: a `writeKey` from the body (Segment), used only when the request
                has no Authorization header.

        Raises:
            ApiError: 401 when neither names an accepted key.
        """
        header = request.headers.get("authorization")
        if header is None:
            if isinstance(body_key, str) and body_key and self._known(body_key):
                return
            raise ApiError(401, "unauthorized", "HTTP Basic credentials or a writeKey are needed")
        user, password = _basic(header)
        if not self.accepts(user, password):
            raise ApiError(401, "unauthorized", "unknown credentials")


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise ApiError(401, "unauthorized", "only HTTP Basic authorization is accepted")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(401, "unauthorized", "the Basic credentials cannot be read") from None
    user, _, password = decoded.partition(":")
    return user, password
