"""Where requests go and how they authenticate: the API root, the API token, OAuth 2.0."""

from __future__ import annotations

import base64
import datetime
import logging
import os
import pathlib
import threading
import typing as t
from urllib.parse import urlparse

import requests
import urllib3

from pipedrive_api.errors import ConfigError, OAuthError

DEFAULT_API_URL = "https://api.pipedrive.com"
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def root_url(config: t.Mapping[str, t.Any]) -> str:
    """The API root: `api_url` when set, else `https://{company_domain}.pipedrive.com`."""
    api_url = config.get("api_url") or DEFAULT_API_URL
    if api_url == DEFAULT_API_URL and config.get("company_domain"):
        api_url = f"https://{config['company_domain']}.pipedrive.com"
    return t.cast("str", api_url).rstrip("/")


def check_root_url(url: str, settings: str = "`api_url` / `company_domain`") -> None:
    """Refuse to send credentials over plain HTTP, except to this machine (tests, emulator)."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname in _LOOPBACK_HOSTS:
        return
    msg = (
        f"{url!r} (settings {settings}) must be an https:// URL "
        "(plain http is allowed only for a loopback address)."
    )
    raise ConfigError(msg)


class TokenAuth(requests.auth.AuthBase):
    """Send the API token in the `x-api-token` header, never in the URL."""

    def __init__(self, api_token: str) -> None:
        self.auth_headers = {"x-api-token": api_token}

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign one request."""
        request.headers.update(self.auth_headers)
        return request


def token_authenticator(api_token: str) -> TokenAuth:
    """Send the API token in the `x-api-token` header, never in the URL."""
    return TokenAuth(api_token)


DEFAULT_OAUTH_URL = "https://oauth.pipedrive.com/oauth/token"
#: Refresh this long before the access token expires, so no request carries a stale one...
REFRESH_MARGIN_SECONDS = 60
#: ... or, for short-lived tokens, once this share of its lifetime is left.
REFRESH_MARGIN_SHARE = 0.25


class PipedriveOAuthAuthenticator(requests.auth.AuthBase):
    """OAuth 2.0 with a refresh token: HTTP Basic client credentials, rotation, `api_domain`.

    Its own token session retries a POST that failed to connect, as singer-sdk's
    `OAuthAuthenticator` (which this class was built on) does.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        url: str,
        token_file: str | None = None,
    ) -> None:
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.auth_endpoint = url
        self.client_id = client_id
        self._oauth_headers = {"Authorization": f"Basic {credentials}"}
        self.auth_headers: dict[str, str] = {}
        self.access_token: str | None = None
        self.last_refreshed: datetime.datetime | None = None
        self.expires_in: int | None = None
        self.logger = logging.getLogger("pipedrive_api.auth")
        self._session = requests.Session()
        self._session.mount(
            "https://",
            requests.adapters.HTTPAdapter(
                max_retries=urllib3.Retry(backoff_factor=0.1, allowed_methods=["POST"])
            ),
        )
        # A refresh token rotated in an earlier run is newer than the configured one.
        self.token_file = pathlib.Path(token_file) if token_file else None
        saved = (
            self.token_file.read_text().strip()
            if self.token_file and self.token_file.exists()
            else ""
        )
        self.refresh_token = saved or refresh_token
        self.api_domain: str | None = None
        self._retried_token: str | None = None
        # Concurrent reads share this authenticator: one refresh at a time (a rotated refresh
        # token is good for one use).
        self._refreshing = threading.Lock()

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Refresh the access token if due (one thread at a time), then sign the request."""
        with self._refreshing:
            if not self.is_token_valid():
                self.update_access_token()
            self.auth_headers["Authorization"] = f"Bearer {self.access_token}"
            request.headers.update(self.auth_headers)
            return request

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign one request (`requests` calls an `auth` this way)."""
        return self.authenticate_request(request)

    @property
    def oauth_request_body(self) -> dict[str, t.Any]:
        """The refresh-token grant."""
        return {"grant_type": "refresh_token", "refresh_token": self.refresh_token}

    def is_token_valid(self) -> bool:
        """Valid until a minute before it expires, or a quarter of its lifetime if it is short."""
        if self.last_refreshed is None or self.access_token is None:
            return False
        if not self.expires_in:
            return True
        age = (datetime.datetime.now(datetime.timezone.utc) - self.last_refreshed).total_seconds()
        margin = min(REFRESH_MARGIN_SECONDS, self.expires_in * REFRESH_MARGIN_SHARE)
        return age < self.expires_in - margin

    def update_access_token(self) -> None:
        """Exchange the refresh token; keep a rotated refresh token for the rest of the run."""
        requested = datetime.datetime.now(datetime.timezone.utc)
        response = self._session.post(
            self.auth_endpoint,
            headers=self._oauth_headers,
            data=self.oauth_request_body,
            timeout=60,
        )
        if response.status_code != 200:
            msg = (
                f"Pipedrive's OAuth server refused the refresh ({response.status_code}): check "
                "the `client_id`, `client_secret` and `refresh_token` settings (a refresh token "
                "expires after 60 days unused)."
            )
            raise OAuthError(msg)
        body = response.json()
        self.access_token = body["access_token"]
        self.expires_in = int(body.get("expires_in") or 0) or None
        self.last_refreshed = requested
        self.api_domain = body.get("api_domain") or self.api_domain
        rotated = body.get("refresh_token")
        if rotated and rotated != self.refresh_token:
            self.refresh_token = rotated
            self._keep_rotated_token()

    def _keep_rotated_token(self) -> None:
        """Write a rotated refresh token where the next run reads it (never to the logs)."""
        if self.token_file is None:
            self.logger.warning(
                "Pipedrive rotated the OAuth refresh token: this run uses the new one, but the "
                "configured `refresh_token` may no longer work. Set `refresh_token_file` to a "
                "path where the tap keeps the newest refresh token for the next run."
            )
            return
        # Written whole, then renamed, readable by the owner only: a secret, never half-written.
        partial = self.token_file.with_name(f".{self.token_file.name}.partial")
        partial.touch(mode=0o600)
        partial.write_text(str(self.refresh_token))
        os.replace(partial, self.token_file)
        self.logger.info(
            "Pipedrive rotated the OAuth refresh token; the new one is in %s, where the next run "
            "reads it.",
            self.token_file,
        )

    def retry_after_401(self) -> bool:
        """Whether to refresh and retry once after a 401 (not twice for the same token)."""
        if self.access_token is None or self.access_token == self._retried_token:
            return False
        self._retried_token = self.access_token
        self.last_refreshed = None
        return True
