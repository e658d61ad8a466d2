from django.urls import path

from .views import CalendarFeedView, CalendarView, private_feed

# The release calendar as JSON and iCalendar.
urlpatterns = [
    path("api/calendar/", CalendarView.as_view(), name="api-calendar"),
    path("calendar.ics", CalendarFeedView.as_view(), name="calendar-feed"),
    path("calendar/<str:key>.ics", private_feed, name="calendar-private-feed"),
]
