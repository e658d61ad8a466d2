from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from audit import urls as audit_urls
from calendars import urls as calendar_urls
from releases import urls as release_urls
from releases.views import dashboard_view
from reports import urls as report_urls
from sso.views import LoginView

# The release pages, and the pages of the concerns built on the process under
# the same "releases:" names they have always had (templates use them).
release_pages = ([*release_urls.urlpatterns, *report_urls.urlpatterns, *calendar_urls.release_pages,
                  *audit_urls.release_pages],
                 release_urls.app_name)

urlpatterns = [
    path("", dashboard_view, name="dashboard"),
    # The login page, with single sign-on when configured (sso).
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("sso/", include("sso.urls")),
    path("", include(release_pages)),
    path("rfcs/", include("changes.urls")),
    path("cmdb/", include("cmdb.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("admin/", admin.site.urls),
    # Release calendar (JSON and iCalendar) and signed vendor updates: before
    # "api/", whose last pattern answers anything else with a JSON 404.
    path("", include("calendars.urls")),
    path("", include("notifications.urls")),
    path("", include("evidence.urls")),
    path("api/", include("releasemgmt.api_urls")),
]

# Input Django itself refuses: the API's error object under /api/, a page elsewhere.
handler400 = "releasemgmt.input_guard.bad_request"
# A generic answer with a correlation id, JSON under /api/: never a traceback.
handler500 = "releasemgmt.security.server_error"
