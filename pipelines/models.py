"""The credential a CI/CD pipeline uses at the deployment gate."""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from releasemgmt.authz import RestrictedQuerySet

# A gate token reads as one, so a leaked one is recognised (secret scanners,
# logs) and never mistaken for a user's API token.
KEY_PREFIX = "gate_"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class PipelineToken(models.Model):
    """A pipeline's token for the deployment gate (``/api/gate/``) and nothing else.

    The pipeline acts as a service account, ``user``, which holds the
    deployment team's role: what it may do at the gate is what that role may
    do in the release process, checked by the same services, and every step
    it takes is in the history under that account. The token is generated,
    shown once, and kept only as a SHA-256 digest (it needs no decrypting:
    the gate only compares); the admin shows its fingerprint. Any other
    endpoint refuses it (403, kept as a refused attempt)."""

    name = models.CharField(max_length=100, help_text="Which pipeline holds it, e.g. 'Jenkins orders-api'.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pipeline_tokens",
                             help_text="The service account the pipeline acts as (deployment team role).")
    key_digest = models.CharField(max_length=64, unique=True, editable=False)
    fingerprint = models.CharField(max_length=12, editable=False,
                                   help_text="First 12 hex digits of the token's SHA-256.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["key_digest"])

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "pipeline token"

    def __str__(self):
        return f"{self.name} ({self.fingerprint})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def set_new_key(self) -> str:
        """Give the token a new key (in memory; the service saves) and return
        it: the one time it is seen."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.key_digest = digest(key)
        self.fingerprint = self.key_digest[:12]
        return key

    @classmethod
    def for_key(cls, key: str):
        """The active token with this key, or None."""
        return (cls.objects.select_related("user").filter(key_digest=digest(key), revoked_at__isnull=True)
                .first())


# The GitHub and GitLab adapters' models (pipelines.adapters).
from .adapter_models import AdapterCheck, AdapterDelivery, PipelineAdapter  # noqa: E402,F401
