"""B2B routing of vendor activities (step 3).

A vendor with an integration gets each of its tasks POSTed to its endpoint as
JSON, signed so it can trust the sender:

    X-Release-Timestamp: <unix seconds>
    Idempotency-Key:     <one key per delivery; a retry reuses it>
    X-Release-Signature: v2=<hex HMAC-SHA256(secret, string to sign)>

where the string to sign is five lines joined by newlines after a version
line (no newline at the end):

    v2
    <METHOD>                      POST
    <path>                        the URL's path, and "?query" when it has one
    <timestamp>                   as in X-Release-Timestamp
    <idempotency key>             as in Idempotency-Key
    <hex SHA-256 of the body>     the exact bytes sent

It answers with ``{"ticket": "<its ticket reference>"}``, which is kept on
the task. The vendor reports back through the REST API, or by POSTing an
update signed the same way (its own idempotency keys) to
``/api/vendors/<id>/inbound/``. Because the key, the method and the path are
signed, a captured request cannot be replayed under a new key nor sent to
another endpoint; a stale timestamp or a key already used is refused too.
After a rotation both the new and the previous secret verify, until the
overlap window ends (``Vendor.verification_secrets``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

SIGNATURE_HEADER = "X-Release-Signature"
TIMESTAMP_HEADER = "X-Release-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_SECONDS = 300
SCHEME = "v2"


def string_to_sign(*, method: str, path: str, timestamp, idempotency_key: str, body: bytes) -> bytes:
    return "\n".join([SCHEME, method.upper(), path, str(timestamp), idempotency_key,
                      hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, *, method: str, path: str, timestamp, idempotency_key: str, body: bytes) -> str:
    """The ``X-Release-Signature`` value for this request."""
    mac = hmac.new(secret.encode(), string_to_sign(method=method, path=path, timestamp=timestamp,
                                                   idempotency_key=idempotency_key, body=body), hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def request_path(url: str) -> str:
    """What a request to ``url`` signs as its path: path and query, as sent."""
    parts = urllib.parse.urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def signed_headers(secret: str, *, url: str, body: bytes, idempotency_key: str, method: str = "POST",
                   timestamp: int | None = None) -> dict[str, str]:
    """The three headers of a signed request (a vendor's client can use this)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(ts),
        IDEMPOTENCY_HEADER: idempotency_key,
        SIGNATURE_HEADER: sign(secret, method=method, path=request_path(url), timestamp=ts,
                               idempotency_key=idempotency_key, body=body),
    }


def verify(secrets: str | Iterable[str], *, method: str, path: str, timestamp: str | None,
           idempotency_key: str | None, body: bytes, signature: str | None, now: float | None = None) -> str:
    """Return '' when the request is authentic and fresh, else why not.

    ``secrets`` are the ones that may have signed it: the current secret and,
    during a rotation's overlap window, the previous one."""
    secrets = [secrets] if isinstance(secrets, str) else [s for s in secrets if s]
    if not any(secrets):
        return "This vendor has no integration secret."
    if not timestamp or not signature:
        return "The signature or timestamp header is missing."
    try:
        ts = int(timestamp)
    except ValueError:
        return "The timestamp is not a number."
    if abs((time.time() if now is None else now) - ts) > TOLERANCE_SECONDS:
        return "The timestamp is too old or in the future."
    signature = signature.strip()
    if not signature.startswith(f"{SCHEME}="):
        return (f"Sign with the {SCHEME} scheme ({SIGNATURE_HEADER}: {SCHEME}=<hex>), which covers the method, "
                "path, timestamp, idempotency key and body.")
    expected = [sign(secret, method=method, path=path, timestamp=timestamp, idempotency_key=idempotency_key or "",
                     body=body) for secret in secrets]
    # Compare with every secret, not stopping at a match: the time taken does
    # not tell which secret (current or previous) signed.
    matches = [hmac.compare_digest(e, signature) for e in expected]
    if not any(matches):
        return "The signature does not match."
    return ""


def task_payload(task) -> dict:
    return {
        "task": task.pk,
        "release": task.release.number,
        "release_id": task.release_id,
        "title": task.title,
        "description": task.description,
        "step": task.step,
        "planned_start": task.planned_start.isoformat() if task.planned_start else None,
        "planned_end": task.planned_end.isoformat() if task.planned_end else None,
        "state": task.state,
    }


class DeliveryError(Exception):
    pass


def post_signed(url: str, secret: str, payload: dict, idempotency_key: str, *, timeout: float = 10.0) -> dict:
    """POST the payload; return the vendor's JSON answer (or {})."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        **signed_headers(secret, url=url, body=body, idempotency_key=idempotency_key),
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - vendor URL set by admins
            raw = response.read()
    except urllib.error.HTTPError as exc:
        # 409 from the vendor: it already has this delivery (a retry after a
        # lost answer); treat as delivered.
        if exc.code == 409:
            try:
                return json.loads(exc.read() or b"{}")
            except ValueError:
                return {}
        raise DeliveryError(f"vendor answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"vendor unreachable: {exc}") from exc
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
