"""OAuth 2.0 as Pipedrive runs it: `POST /oauth/token` refreshes, `Bearer` tokens authorise.

Only the refresh-token grant: the tap never sees the browser half of the flow.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from tests.emulator.handlers import error_body

TOKEN_PATH = "/oauth/token"
SCOPES = "base,deals:read,contacts:read,leads:read,activities:read,products:read,projects:read"


class OAuthServer:
    """The token endpoint and the access tokens it has issued.

    With `rotate`, each refresh issues a new refresh token and invalidates the one used (as
    providers that rotate do); without it the refresh token stays the same.
    """

    def __init__(
        self,
        client: tuple[str, str],
        refresh_token: str,
        ttl: int = 3599,
        rotate: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.rotate = rotate
        self._clock = clock
        self._lock = threading.Lock()
        self._refresh_tokens = {refresh_token}
        self._access: dict[str, float] = {}
        self._issued = [refresh_token]
        self._serial = itertools.count(1)

    def token(self, headers: dict[str, str], body: bytes, api_domain: str) -> tuple[int, Any]:
        """Answer a token request: (status, JSON body)."""
        if _basic_credentials(headers.get("authorization", "")) != self.client:
            return 401, _oauth_error("invalid_client", "Invalid client credentials")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "refresh_token":
            return 400, _oauth_error("unsupported_grant_type", "Only refresh_token is supported")
        with self._lock:
            used = form.get("refresh_token", "")
            if used not in self._refresh_tokens:
                return 401, _oauth_error("invalid_grant", "Invalid refresh token")
            serial = next(self._serial)
            access = f"at-{serial}-{secrets.token_hex(12)}"
            self._access[access] = self._clock() + self.ttl
            refresh = used
            if self.rotate:
                refresh = f"rt-{serial}-{secrets.token_hex(12)}"
                self._refresh_tokens = {refresh}
            self._issued += [access, refresh]
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.ttl,
            "refresh_token": refresh,
            "scope": SCOPES,
            "api_domain": api_domain,
        }

    def issued(self) -> list[str]:
        """Every access and refresh token this server has known: what must never leak."""
        with self._lock:
            return list(self._issued)

    def valid(self, access_token: str) -> bool:
        """Tell whether an access token was issued here and has not expired."""
        with self._lock:
            expiry = self._access.get(access_token)
            return expiry is not None and self._clock() < expiry

    def expire_all(self) -> None:
        """Expire every access token issued so far (refresh tokens stay valid)."""
        with self._lock:
            self._access = dict.fromkeys(self._access, float("-inf"))


def bearer(headers: dict[str, str]) -> str | None:
    """Return the token of an `Authorization: Bearer ...` header, if there is one."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _oauth_error(code: str, message: str) -> dict[str, Any]:
    """Return an OAuth error: the RFC 6749 `error` code in Pipedrive's envelope."""
    return error_body(code, message, message=message)
