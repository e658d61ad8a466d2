"""What the admin pages share: the release manager role, search by number, add links, signatures."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import OuterRef, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from ..models import Signature


RM = ("release_manager",)


class NumberSearchMixin:
    """Find ``REL-00012`` (or ``RFC-12``) by its number as well as by text."""

    number_prefix = ""

    def get_search_results(self, request, queryset, search_term):
        match = re.fullmatch(rf"{self.number_prefix}-?0*(\d+)", search_term.strip(), re.IGNORECASE)
        if match and self.number_prefix:
            return queryset.filter(pk=int(match.group(1))), False
        return super().get_search_results(request, queryset, search_term)


def admin_add_url(model, **params) -> str | None:
    try:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(params)}" if params else url



def with_signatures(queryset):
    """``queryset`` with each row's signature (signer, method, time,
    fingerprint) annotated, for a list: one query whatever its length."""
    signatures = Signature.objects.filter(content_type=ContentType.objects.get_for_model(queryset.model),
                                          object_id=OuterRef("pk"))
    return queryset.annotate(**{f"signature_{name}": Subquery(signatures.values(name)[:1])
                                for name in ("signer_username", "method", "at", "fingerprint")})


@admin.display(description="signature")
def signature_summary(model_admin, obj):
    """The signature of a signed decision, from its record: annotated on a
    list (``with_signatures``), looked up otherwise. Assigned as a method of
    the admins that show it."""
    if hasattr(obj, "signature_fingerprint"):
        signer, method, at, fingerprint = (obj.signature_signer_username, obj.signature_method, obj.signature_at,
                                           obj.signature_fingerprint)
    else:
        signature = Signature.objects.filter(content_type=ContentType.objects.get_for_model(type(obj)),
                                             object_id=obj.pk).first()
        if signature is None:
            return "—"
        signer, method, at, fingerprint = (signature.signer_username, signature.method, signature.at,
                                           signature.fingerprint)
    if not fingerprint:
        return "—"
    return format_html('Signed with {} by {} at {} <code title="SHA-256 of what was signed">{}</code>', method,
                       signer, at.strftime("%Y-%m-%d %H:%M:%S %Z"), fingerprint)
