from django.utils.functional import SimpleLazyObject

from releasemgmt.signing import signs_at_provider


def signing(request):
    """How the signed-in person signs a decision, for the note beside a
    signed form's button."""

    def note():
        from django.conf import settings

        if signs_at_provider(getattr(request, "user", None)):
            return f"Signed by signing in again at {settings.SSO.display_name}"
        return "Signed with your password"

    return {"sign_note": SimpleLazyObject(note)}
