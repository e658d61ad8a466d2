"""The app's URLs, with the floor views under /floor/ (before the app's own
patterns, whose /api/ catch-all would otherwise answer them)."""
from django.urls import include, path

from releasemgmt.urls import urlpatterns as app_urlpatterns

urlpatterns = [path("floor/", include("bench.floor")), *app_urlpatterns]
