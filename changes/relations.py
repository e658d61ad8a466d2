"""The releases that deliver RFCs and that problem records analyse, reached
through the relations the release process declares on this app's models
(``Release.rfcs``, ``Problem.release``): change management never imports
``releases``, the release process depends on it."""
from __future__ import annotations

from .models import Problem


def release_model():
    """The model of the releases a problem record analyses (and RFCs are delivered by)."""
    return Problem._meta.get_field("release").related_model
