"""The project's URLs plus two views that fail, for the 500 tests only."""
from django.db import connection
from django.urls import path

from releasemgmt.urls import handler500, urlpatterns as project_urls  # noqa: F401 (handler500: Django reads it here)

SECRET_LOOKING = "SELECT password FROM auth_user -- SECRET_KEY=not-for-your-eyes"


def boom(request):
    # What a careless error would leak: the SQL it ran and a setting.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    raise RuntimeError(SECRET_LOOKING)


urlpatterns = [path("boom/", boom), path("api/boom/", boom), *project_urls]
