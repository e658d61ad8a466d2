"""The vendors' integration secrets: given, rotated and revoked by an
administrator who may change vendors, whatever the entry point (the admin
today), with every refusal kept."""
from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import TransitionForbidden

from .models import Vendor

VENDOR_ADMIN_PERMISSION = "releases.change_vendor"


def _vendor_subject(kwargs):
    return Vendor, kwargs["vendor_id"]


def _require_vendor_admin(by, action):
    if not (getattr(by, "is_active", False) and by.has_perm(VENDOR_ADMIN_PERMISSION)):
        raise TransitionForbidden(action, "Only an administrator who may change vendors may manage their secrets.")


@logs_refusals(subject=_vendor_subject)
@transaction.atomic
def vendor_secret_rotate(*, vendor_id, by, overlap=None) -> str:
    """Give a vendor a new integration secret (or its first) and return it:
    the one time it is shown. Outbound calls are signed with it at once; the
    previous secret still verifies inbound updates for ``overlap`` (default
    ``VENDOR_SECRET_OVERLAP_HOURS``) so the vendor can switch over."""
    _require_vendor_admin(by, "rotate_secret")
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    if overlap is None:
        overlap = timedelta(hours=settings.VENDOR_SECRET_OVERLAP_HOURS)
    now = timezone.now()
    secret = secrets.token_urlsafe(32)
    vendor.set_secret(secret, at=now, previous_valid_until=now + overlap)
    vendor._change_reason = "rotate secret"
    vendor._history_user = by
    vendor.save()
    return secret


@logs_refusals(subject=_vendor_subject)
@transaction.atomic
def vendor_secret_remove(*, vendor_id, by) -> None:
    """Revoke a vendor's secrets, current and previous, at once: nothing
    signed with them is accepted any more, and its tasks go by email."""
    _require_vendor_admin(by, "remove_secret")
    vendor = Vendor.objects.select_for_update().get(pk=vendor_id)
    vendor.set_secret("", at=timezone.now())
    vendor._change_reason = "remove secret"
    vendor._history_user = by
    vendor.save()
