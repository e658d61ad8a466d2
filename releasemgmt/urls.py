from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from releases.calendar_views import CalendarFeedView, CalendarView, private_feed
from releases.vendor_views import VendorInboundView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # Release calendar (JSON and iCalendar) and signed vendor updates.
    path("api/calendar/", CalendarView.as_view(), name="api-calendar"),
    path("api/vendors/<int:vendor_id>/inbound/", VendorInboundView.as_view(), name="vendor-inbound"),
    path("calendar.ics", CalendarFeedView.as_view(), name="calendar-feed"),
    path("calendar/<str:key>.ics", private_feed, name="calendar-private-feed"),
    path("api/", include("releasemgmt.api_urls")),
]
