from django.urls import path

from .views import audit_export_view

# The evidence page, under the "releases:" name it has always had: the
# project's URLconf puts it beside the release pages.
release_pages = [
    path("audit/", audit_export_view, name="audit_export"),
]
