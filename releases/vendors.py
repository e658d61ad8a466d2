"""B2B routing of vendor activities (step 3).

A vendor with an integration gets each of its tasks POSTed to its endpoint as
JSON, signed so it can trust the sender:

    X-Release-Timestamp: <unix seconds>
    Idempotency-Key:     <one key per delivery; a retry reuses it>
    X-Release-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

It answers with ``{"ticket": "<its ticket reference>"}``, which is kept on
the task. The vendor reports back through the REST API, or by POSTing a
signed update (same headers, its own idempotency keys) to
``/api/vendors/<id>/inbound/``; a wrong signature, a stale timestamp or a
replayed key is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

SIGNATURE_HEADER = "X-Release-Signature"
TIMESTAMP_HEADER = "X-Release-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, body: bytes, timestamp: str | None, signature: str | None, *, now: float | None = None) -> str:
    """Return '' when the request is authentic and fresh, else why not."""
    if not secret:
        return "This vendor has no integration secret."
    if not timestamp or not signature:
        return "The signature or timestamp header is missing."
    try:
        ts = int(timestamp)
    except ValueError:
        return "The timestamp is not a number."
    if abs((now or time.time()) - ts) > TOLERANCE_SECONDS:
        return "The timestamp is too old or in the future."
    if not hmac.compare_digest(sign(secret, body, ts), signature.strip()):
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
    ts = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        IDEMPOTENCY_HEADER: idempotency_key,
        SIGNATURE_HEADER: sign(secret, body, ts),
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
