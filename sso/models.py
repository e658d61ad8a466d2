from django.conf import settings
from django.db import models


class Identity(models.Model):
    """A person's account at the identity provider, linked to the user it
    signs in as. The provider names the person by its issuer and subject
    (``sub``), which never change and are never reused; a name or an email
    address can, so an account is never matched on them (a provider
    account named like a local user does not become that user)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject")]

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
