from django.urls import path

from .pages import calendar_subscription_view, calendar_view
from .views import CalendarFeedView, CalendarView, private_feed

# The release calendar as JSON and iCalendar.
urlpatterns = [
    path("api/calendar/", CalendarView.as_view(), name="api-calendar"),
    path("calendar.ics", CalendarFeedView.as_view(), name="calendar-feed"),
    path("calendar/<str:key>.ics", private_feed, name="calendar-private-feed"),
]

# The calendar pages, under the "releases:" names they have always had: the
# project's URLconf puts them beside the release pages.
release_pages = [
    path("calendar/", calendar_view, name="calendar"),
    path("calendar/subscription/", calendar_subscription_view, name="calendar_subscription"),
]
