from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from releases import urls as release_urls
from releases.calendar_views import CalendarFeedView, CalendarView, private_feed
from releases.vendor_views import VendorInboundView
from releases.views import dashboard_view
from reports import urls as report_urls

urlpatterns = [
    path("", dashboard_view, name="dashboard"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The reports page keeps its name in the "releases" namespace.
    path("", include((release_urls.urlpatterns + report_urls.urlpatterns, release_urls.app_name))),
    path("rfcs/", include("changes.urls")),
    path("cmdb/", include("cmdb.urls")),
    path("admin/", admin.site.urls),
    # Release calendar (JSON and iCalendar) and signed vendor updates.
    path("api/calendar/", CalendarView.as_view(), name="api-calendar"),
    path("api/vendors/<int:vendor_id>/inbound/", VendorInboundView.as_view(), name="vendor-inbound"),
    path("calendar.ics", CalendarFeedView.as_view(), name="calendar-feed"),
    path("calendar/<str:key>.ics", private_feed, name="calendar-private-feed"),
    path("api/", include("releasemgmt.api_urls")),
]

# Input Django itself refuses: the API's error object under /api/, a page elsewhere.
handler400 = "releasemgmt.input_guard.bad_request"
# A generic answer with a correlation id, JSON under /api/: never a traceback.
handler500 = "releasemgmt.security.server_error"
