"""Where a subscription may send events.

A subscription makes this server POST to a URL of its maker's choosing; left
open, that reaches the services behind the firewall (the metadata endpoint
of a cloud host, an admin port on localhost). So a URL must be http(s), carry
no credentials, and name a public address: a private, loopback, link-local
or reserved one is refused when the subscription is made, and again when
each delivery is sent (after resolving the host name). Installations that
deliver to their own network set ``WEBHOOK_ALLOW_PRIVATE_URLS``.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

PRIVATE = ("The URL names a private, loopback or reserved address; events are only sent to public addresses "
           "(WEBHOOK_ALLOW_PRIVATE_URLS).")


def _public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_global


def refusal(url: str) -> str:
    """Why ``url`` may not be subscribed ('' if it may), without a network look-up."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "Give an http:// or https:// URL."
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "Not a valid URL."
    if parts.username or parts.password:
        return "Put no credentials in the URL: the signature proves who sends."
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return ""
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return PRIVATE
    try:
        return "" if _public(host) else PRIVATE
    except ValueError:
        return ""  # a name: resolved, and checked, when each delivery is sent


def destination_refusal(url: str) -> str:
    """Why a delivery may not go to ``url`` now ('' if it may): what
    ``refusal`` says, and every address its host resolves to must be public."""
    found = refusal(url)
    if found or settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return found
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"The host name does not resolve: {exc}"
    return "" if all(_public(info[4][0]) for info in infos) else PRIVATE
