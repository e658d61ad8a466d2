from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    """Evidence files attached to step records, RFCs and problem records:
    stored through Django's storage API, served only through a view that
    applies the record's own authorization."""

    name = "evidence"
    verbose_name = "Evidence files"
