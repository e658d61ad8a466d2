"""What the GitHub and GitLab adapters keep: their settings (secrets sealed),
the deliveries they have taken (to refuse a replay), and the deployments
they answer for while the gate says ``awaiting``."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from releasemgmt.authz import RestrictedQuerySet


class AdapterKind(models.TextChoices):
    GITHUB = "github", "GitHub deployment protection rule"
    GITLAB = "gitlab", "GitLab deployment approvals"


class VersionFrom(models.TextChoices):
    REF = "ref", "The deployed ref (a tag such as v2.4 gives 2.4)"
    SHA = "sha", "The deployed commit"


class PipelineAdapter(models.Model):
    """A CI/CD platform that asks the deployment gate on its own: a GitHub
    App acting as a custom deployment protection rule, or a GitLab project
    (or group) hook whose deployments to protected environments wait for an
    approval. It maps the platform's deployment (repository, ref, environment)
    to the release it deploys and answers with the gate's decision.

    Like a pipeline token it acts as a service account, ``user``, holding the
    deployment team's role: the gate answers that account, and what it
    reports is done by the same services as any other step, under that
    account. Its webhook secret and API token are write-only: typed into the
    admin, kept sealed (``releasemgmt.secretbox``, as the vendors' secrets)
    because they are needed in clear to verify and to call, and afterwards
    shown only as fingerprints; the history keeps the fingerprints, never the
    sealed values."""

    name = models.CharField(max_length=100, unique=True,
                            help_text="Which platform and scope, e.g. 'GitHub acme org' or 'GitLab payments group'.")
    kind = models.CharField(max_length=10, choices=AdapterKind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pipeline_adapters",
                             help_text="The service account the adapter acts as (deployment team role).")
    base_url = models.URLField(
        max_length=300,
        help_text="GitHub: its API (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server); "
                  "the adapter calls no other host. GitLab: the instance (https://gitlab.com or your own).")
    webhook_secret_sealed = models.TextField(blank=True, editable=False)
    webhook_secret_fingerprint = models.CharField(max_length=12, blank=True, editable=False)
    api_token_sealed = models.TextField(blank=True, editable=False)
    api_token_fingerprint = models.CharField(max_length=12, blank=True, editable=False)
    repositories = models.JSONField(
        default=dict, blank=True,
        help_text='Which configuration item a repository deploys: {"acme/orders": "orders-api"}. A repository '
                  "not listed deploys the configuration item named as the repository (its last part).")
    environments = models.JSONField(
        default=dict, blank=True,
        help_text='The gate\'s name of a platform environment: {"prod": "production"}. Not listed: the same name.')
    version_from = models.CharField(max_length=10, choices=VersionFrom.choices, default=VersionFrom.REF,
                                    help_text="What names the version deployed, beside the configuration item.")
    active = models.BooleanField(default=True, help_text="An inactive adapter refuses every delivery (404).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["webhook_secret_sealed", "api_token_sealed"])

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "pipeline adapter"

    def __str__(self):
        return self.name

    def set_secrets(self, *, webhook_secret: str | None = None, api_token: str | None = None) -> None:
        """Replace what is given (in memory; the admin saves); None keeps it."""
        from releasemgmt.secretbox import fingerprint, seal

        if webhook_secret is not None:
            self.webhook_secret_sealed, self.webhook_secret_fingerprint = seal(webhook_secret), fingerprint(
                webhook_secret)
        if api_token is not None:
            self.api_token_sealed, self.api_token_fingerprint = seal(api_token), fingerprint(api_token)

    def webhook_secret(self) -> str:
        from releasemgmt.secretbox import unseal

        return unseal(self.webhook_secret_sealed)

    def api_token(self) -> str:
        from releasemgmt.secretbox import unseal

        return unseal(self.api_token_sealed)


class AdapterDelivery(models.Model):
    """A delivery an adapter took, by the platform's delivery id
    (``X-GitHub-Delivery``; GitLab's ``Idempotency-Key`` or event UUID): the
    same id again is a replay, refused with nothing changed."""

    adapter = models.ForeignKey(PipelineAdapter, on_delete=models.PROTECT, related_name="deliveries")
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "adapter deliveries"
        constraints = [models.UniqueConstraint(fields=["adapter", "delivery_id"], name="adapter_delivery_unique")]


class CheckState(models.TextChoices):
    WAITING = "waiting", "Waiting: the gate says awaiting"
    ANSWERING = "answering", "Decided; the answer is being sent"
    ANSWERED = "answered", "Answered"
    FAILED = "failed", "The answer could not be sent"


class AdapterCheck(models.Model):
    """One deployment the platform asked about, until it is answered: the
    gate's decision (``approved`` when it allows the deployment, ``rejected``
    with its blockers when it prevents it) sent back to the platform. While
    the gate says ``awaiting`` the check waits and the gate is asked again
    (``pipelines.tasks.answer_adapter_checks``)."""

    adapter = models.ForeignKey(PipelineAdapter, on_delete=models.PROTECT, related_name="checks")
    delivery = models.OneToOneField(AdapterDelivery, on_delete=models.PROTECT, related_name="adapter_check")
    reference = models.CharField(max_length=300, help_text="The platform's deployment, as a person reads it.")
    environment = models.CharField(max_length=100)
    release_ref = models.CharField(max_length=30, blank=True, help_text="A release named by the deployment.")
    ci = models.CharField(max_length=200, blank=True)
    version = models.CharField(max_length=100, blank=True)
    # Where the answer goes: GitHub's callback URL and environment name, or
    # GitLab's project and deployment ids.
    target = models.JSONField(default=dict)
    release = models.ForeignKey("releases.Release", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    state = models.CharField(max_length=10, choices=CheckState.choices, default=CheckState.WAITING)
    decision = models.CharField(max_length=10, blank=True)
    answer = models.CharField(max_length=10, blank=True, help_text="approved or rejected")
    comment = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "adapter check"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="adapter_check_due")]

    def __str__(self):
        return self.reference
