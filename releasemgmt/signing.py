"""Signed decisions.

A decision that carries authority (a CAB vote, approving or rejecting a
release plan, authorising or rejecting an RFC, Go and No-Go, authorising a
rollback) is signed: whoever takes it proves again who they are at that
moment, and the process keeps a structured record of it
(``releases.Signature``): who signed, what they decided (``meaning``), when,
by which method, through which door (``releasemgmt.entrypoints``), and a
SHA-256 fingerprint of exactly what they had before them.

Which decisions are signed is declared once, beside them:

- a transition: ``custom={"signed": <what it signs>}`` in its FSM decorator,
  a function of the object giving the content the decision is about (read
  into ``workflow.Spec.signed``);
- a step record: ``signed = True`` on its model, with ``signed_content()``
  and ``signature_meaning()``.

``run_transition`` and ``releases.services.record_add`` refuse a signed
decision unless the credential given with it proves the acting user, whatever
the door (API, UI, admin, a command): the doors only pass it on.

A credential is a small object with a ``method`` name and ``verify(user)``.
``Password`` is the one for local accounts. ``ProviderLogin`` is a fresh
sign-in at the identity provider (single sign-on, the ``sso`` app), for the
users who have no password here: the page that takes the decision sends them
to sign in again (``ReauthenticationRequired``) and they come back to
complete it. Callers, which pass whatever credential they were given, do not
change.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal
from typing import Any, ClassVar, Mapping

from django.db import transaction

from .errors import TransitionError

# --- refusals ------------------------------------------------------------------------------


class SignatureError(TransitionError):
    """A signed decision refused for its signature; nothing changed. The
    body names the ``signature`` field, as a field error would."""

    status = 400
    code = "signature_error"

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "signature": [self.detail]}


class SignatureRequired(SignatureError):
    """The decision is signed and no credential came with it."""

    status = 400
    code = "signature_required"


class SignatureInvalid(SignatureError):
    """The credential does not prove the acting user (a wrong password). It
    counts as a failed login (``count_failure``)."""

    status = 403
    code = "signature_invalid"
    # Kept as a refused attempt under its own name, not as "forbidden".
    refusal_code = "signature_invalid"

    def __init__(self, name: str, detail: str, *, user):
        super().__init__(name, detail)
        self.user = user
        self.counted_under: list | None = None


class SignatureLocked(SignatureError):
    """The signer is locked out after too many failed logins or signatures:
    the answer of a locked-out login, 429."""

    status = 429
    code = "locked_out"


# --- credentials ---------------------------------------------------------------------------


class Credential:
    """What a signer presents to prove who they are at the moment of signing."""

    method: ClassVar[str] = ""

    def verify(self, user, decision: str) -> None:  # pragma: no cover - each method says
        """Return if this credential proves ``user``; otherwise raise
        ``SignatureInvalid`` (or ``SignatureLocked``)."""
        raise NotImplementedError

    def document(self, content: Mapping[str, Any]) -> Mapping[str, Any]:
        """What the signature kept for the decision covers: ``content``, the
        decision's own (``Spec.signed``), unless the credential adds to it."""
        return content


@dataclass(frozen=True)
class Password(Credential):
    """The local account's password, typed again to sign."""

    password: str = field(repr=False)
    method: ClassVar[str] = "password"

    def verify(self, user, decision: str) -> None:
        from .security import check_signature_password, signature_locked_out

        if signature_locked_out(user):
            raise SignatureLocked(decision, "Too many failed logins or signatures: try again later.")
        if not check_signature_password(user, self.password):
            raise SignatureInvalid(decision, "That is not your password; nothing was recorded.", user=user)


@dataclass(frozen=True)
class ProviderLogin(Credential):
    """A sign-in at the identity provider made for this decision: the user
    it proved and when the provider authenticated them (the ID token's
    ``auth_time``). Only the single sign-on callback makes one, after it has
    verified the ID token (``provider_credential``); a client cannot send one."""

    user_id: int
    auth_time: float
    method: ClassVar[str] = "oidc"

    def verify(self, user, decision: str) -> None:
        import time

        from django.conf import settings

        if self.user_id != user.pk or not user.is_active:
            raise SignatureInvalid(decision, "That sign-in was not yours; nothing was recorded.", user=user)
        config = getattr(settings, "SSO", None)
        if config is None or time.time() - self.auth_time > config.sign_max_age:
            raise SignatureRequired(decision, "Your sign-in at the identity provider is too old to sign: "
                                              "sign in there again.")


# --- signing at the identity provider ------------------------------------------------------

# Where the single sign-on callback keeps a fresh sign-in, in the signer's
# session, for the one decision (the path it is posted to) it was asked for.
PROVIDER_LOGIN_SESSION_KEY = "signing_provider_login"


class ReauthenticationRequired(Exception):
    """The user signs at the identity provider and has no fresh sign-in for
    this decision: the single sign-on middleware keeps the form and sends
    them there. Raised before any service runs, so nothing has changed."""

    def __init__(self, user):
        super().__init__("A fresh sign-in at the identity provider is needed to sign.")
        self.user = user


def signs_at_provider(user) -> bool:
    """Whether ``user`` confirms signed decisions at the identity provider
    rather than with a password: single sign-on is configured and the user
    has no usable password (single sign-on creates its users so)."""
    from django.conf import settings

    return (getattr(settings, "SSO", None) is not None and getattr(user, "is_authenticated", False)
            and not user.has_usable_password())


def provider_credential(user) -> ProviderLogin:
    """The fresh sign-in the current request's session holds for this
    decision, used up (one sign-in signs one decision); without one,
    ``ReauthenticationRequired``."""
    import time

    from django.conf import settings

    from .security import current_request

    request = current_request()
    session = getattr(request, "session", None)
    proof = session.get(PROVIDER_LOGIN_SESSION_KEY) if session is not None else None
    if (proof and proof.get("user") == user.pk and proof.get("path") == request.path
            and time.time() - proof.get("auth_time", 0) <= settings.SSO.sign_max_age):
        del session[PROVIDER_LOGIN_SESSION_KEY]
        return ProviderLogin(user_id=user.pk, auth_time=proof["auth_time"])
    raise ReauthenticationRequired(user)


@dataclass(frozen=True)
class Standing(Credential):
    """A decision its signer took in advance, signed then: a change manager's
    standing approval of a standard change stands for the CAB's approval of
    each release plan it covers. Nobody types a password at that moment, so
    the signature kept for the decision names this method, and what it
    covers carries the standing decision's own signature (``reference``:
    which standing approval, who signed it, when, its fingerprint) beside
    the decision's content. Only the process builds one (a client cannot
    send it: it is not in ``METHODS``); whoever builds it has checked that
    the standing approval covers the decision."""

    signer_id: int
    reference: Mapping[str, Any]
    method: ClassVar[str] = "standing_approval"

    def verify(self, user, decision: str) -> None:
        if user is None or user.pk != self.signer_id or not user.is_active:
            raise SignatureInvalid(decision, "The standing approval was signed by someone else.", user=user)

    def document(self, content: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**content, "standing_approval": dict(self.reference)}


# The methods a signature may be made with, by the name a client sends
# (``{"signature": {"password": "..."}}``) and the name the record keeps.
METHODS: dict[str, type[Credential]] = {Password.method: Password}
# What a kept signature may name: those, a sign-in at the identity provider
# (single sign-on) and a standing approval's.
METHOD_CHOICES = [(name, name) for name in (*METHODS, ProviderLogin.method, Standing.method)]


def credential_from(data: Mapping[str, Any] | None) -> Credential | None:
    """The credential a request body carries: ``{"password": "..."}``."""
    if not data:
        return None
    (method, value), = data.items()
    return METHODS[method](value)


# --- verifying and recording ---------------------------------------------------------------


def verify(user, credential: Credential | None, *, decision: str) -> str:
    """Check that ``credential`` proves ``user`` now, for the signed
    ``decision``; return the method. Refuses with ``SignatureRequired``,
    ``SignatureInvalid`` or ``SignatureLocked``."""
    if credential is None:
        raise SignatureRequired(
            decision, f"“{decision}” is a signed decision: confirm it with your password "
                      '(`"signature": {"password": "..."}`).')
    if not isinstance(credential, Credential):
        raise TypeError(f"A signature is a Credential, not {type(credential).__name__}.")
    credential.verify(user, decision)
    return credential.method


def _plain(value):
    if isinstance(value, datetime):
        return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no canonical form")


def canonical(content: Mapping[str, Any]) -> str:
    """The one text of ``content`` that is fingerprinted: JSON with sorted
    keys, no insignificant space, UTF-8 characters kept, times in UTC."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def fingerprint(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical text of ``content``."""
    return hashlib.sha256(canonical(content).encode()).hexdigest()


def record(*, by, method: str, meaning: str, content: Mapping[str, Any], decision, at=None):
    """Keep the signature of ``decision`` (the transition log row or the
    record the signer's decision wrote), in the decision's transaction."""
    from django.apps import apps
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from . import entrypoints

    # The signatures are rows of the process's audit tables (releases.Signature),
    # looked up by name so that the ground imports no app.
    Signature = apps.get_model("releases", "Signature")  # noqa: N806 - a model class

    document = canonical(content)
    return Signature.objects.create(
        signer=by, signer_username=by.get_username(), meaning=meaning, method=method,
        entry_point=entrypoints.current(), at=at or timezone.now(), document=document,
        fingerprint=hashlib.sha256(document.encode()).hexdigest(),
        content_type=ContentType.objects.get_for_model(type(decision)), object_id=decision.pk,
    )


# --- a wrong signature is a failed login ---------------------------------------------------


def count_failure(exc: Exception) -> None:
    """Have django-axes count a wrong signature as a failed login of the
    signer, so the lock-out applies to signing as to logging in.

    Axes writes its count in the database, and a count written inside the
    transaction the refusal rolls back would vanish with it. So the count is
    written where the refusal has left that transaction: by the service
    (``counts_failures``) and again by a door that wraps the service in a
    transaction of its own (the API's If-Match lock, the admin's form), which
    writes only if the earlier count was in a transaction that has since
    been rolled back. Anything but a ``SignatureInvalid`` is ignored."""
    from .security import count_failed_signature

    if not isinstance(exc, SignatureInvalid):
        return
    blocks = transaction.get_connection().atomic_blocks
    earlier = exc.counted_under
    if earlier is not None and len(blocks) >= len(earlier) and all(a is b for a, b in zip(blocks, earlier)):
        return  # the transaction holding the earlier count is still open
    count_failed_signature(exc.user)
    exc.counted_under = list(blocks)


def counts_failures(service):
    """Around a service that takes signed decisions, outside its transaction:
    a wrong signature it refused is counted as a failed login."""

    @functools.wraps(service)
    def wrapper(*args, **kwargs):
        try:
            return service(*args, **kwargs)
        except SignatureInvalid as exc:
            count_failure(exc)
            raise

    return wrapper
