from django.urls import path

from .views import reports_view

# Included in the "releases" namespace by the project's URL root
# (``releases:reports``), where the page has always been.
urlpatterns = [
    path("reports/", reports_view, name="reports"),
]
