"""The OpenAPI schema's view: JSON or YAML by what the client asks for.

DRF chooses a renderer by the media types of ``Accept`` in order of
specificity and ignores their quality (``q``), so a client that prefers JSON
(``application/json, application/yaml;q=0.5``) got YAML, the schema's first
renderer. Here the client's preference decides, as RFC 9110 has it: the media
types by quality, then by specificity; a client without a preference
(none, ``*/*``, a browser) gets YAML. ``?format=json`` still chooses.
"""
from drf_spectacular.views import SpectacularAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.utils.mediatypes import _MediaType, media_type_matches


def by_preference(accepts: list[str]) -> list[str]:
    """The media types of an Accept header, most preferred first: by quality,
    then by specificity, then in the order given. A quality of 0 is a
    refusal, dropped."""
    ranked = []
    for index, text in enumerate(accepts):
        media = _MediaType(text)
        try:
            quality = float(media.params.get("q", "1"))
        except ValueError:
            quality = 1.0
        if quality > 0:
            ranked.append((-quality, -media.precedence, index, text))
    return [text for *_, text in sorted(ranked)]


class PreferenceNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with the client's quality values honoured."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
            return super().select_renderer(request, renderers, format_suffix)
        for accepted in by_preference(self.get_accept_list(request)):
            for renderer in renderers:
                if media_type_matches(renderer.media_type, accepted):
                    return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)


class SchemaView(SpectacularAPIView):
    """``/api/schema/``: YAML unless the client prefers JSON (``Accept``)."""

    content_negotiation_class = PreferenceNegotiation
