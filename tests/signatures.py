"""Signed decisions in tests: every user ``make_user`` creates (tests/conftest.py)
has the same password, and signs with it."""
from __future__ import annotations

from releasemgmt.signing import Password
from releasemgmt.workflow import specs

PASSWORD = "pw-test-12345"


def signature() -> Password:
    """The credential of any test user."""
    return Password(PASSWORD)


def signed(model, name: str, payload: dict | None = None) -> dict:
    """``payload`` with the actor's signature when transition ``name`` of
    ``model`` is a signed decision."""
    payload = dict(payload or {})
    spec = specs(model).get(name)
    if spec is not None and spec.signed is not None:
        payload.setdefault("signature", signature())
    return payload
