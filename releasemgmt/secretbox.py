"""Secrets the application must be able to read back, sealed at rest.

A vendor's HMAC secret cannot be hashed like a password: the relay needs it
to sign and the inbound endpoint to verify. So it is kept encrypted (Fernet:
AES-128-CBC with an HMAC-SHA256 tag) under a key derived from ``SECRET_KEY``;
a database dump or a backup alone does not reveal it.

``SECRET_KEY_FALLBACKS`` keeps sealed values readable after the secret key is
rotated: values are opened with any of the keys and sealed with the current
one (``MultiFernet``), as Django does for sessions and signed tokens.
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# Changing this string makes every sealed value unreadable: it separates this
# use of SECRET_KEY from Django's own (sessions, password reset tokens).
_PURPOSE = b"releasemgmt.secretbox.v1:"


class SealBroken(Exception):
    """The value was sealed under a key neither SECRET_KEY nor its fallbacks hold."""


def _key(secret_key) -> bytes:
    raw = secret_key.encode() if isinstance(secret_key, str) else bytes(secret_key)
    return base64.urlsafe_b64encode(hashlib.sha256(_PURPOSE + raw).digest())


def _box() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return MultiFernet([Fernet(_key(k)) for k in keys])


def seal(plaintext: str) -> str:
    return _box().encrypt(plaintext.encode()).decode() if plaintext else ""


def unseal(sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return _box().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SealBroken("A sealed secret cannot be opened with SECRET_KEY or SECRET_KEY_FALLBACKS.") from exc


def fingerprint(plaintext: str) -> str:
    """What the admin shows instead of a secret: the first 12 hex digits of
    its SHA-256, enough to tell two secrets apart, useless to sign with."""
    return hashlib.sha256(plaintext.encode()).hexdigest()[:12] if plaintext else ""
