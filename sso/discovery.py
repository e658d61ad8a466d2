"""The provider's endpoints, read from its discovery document
(``<issuer>/.well-known/openid-configuration``) and kept for an hour per
process: a sign-in costs no extra round trip, and a provider that moves its
endpoints is followed within the hour."""
from __future__ import annotations

import threading
import time

import requests
from django.conf import settings

CACHE_SECONDS = 3600
TIMEOUT_SECONDS = 10
REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")

_cache: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


class DiscoveryError(Exception):
    """The provider's discovery document could not be read or is unusable."""


def metadata(issuer: str | None = None) -> dict:
    """The discovery document of ``issuer`` (the configured one by default)."""
    issuer = issuer or settings.SSO.issuer
    now = time.monotonic()
    with _lock:
        hit = _cache.get(issuer)
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise DiscoveryError(f"The discovery document of {issuer} could not be read: {exc}") from exc
    # OpenID Connect Discovery 4.3: the document must name the issuer it was asked of.
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != issuer:
        raise DiscoveryError(f"The discovery document at {issuer} names another issuer.")
    missing = [name for name in REQUIRED if not document.get(name)]
    if missing:
        raise DiscoveryError(f"The discovery document of {issuer} lacks {', '.join(missing)}.")
    with _lock:
        _cache[issuer] = (now, document)
    return document


def forget() -> None:
    """Drop what was read (tests, or a provider known to have changed)."""
    with _lock:
        _cache.clear()
