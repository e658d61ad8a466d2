from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    """The release calendar and freeze windows as entries, feeds and pages.
    Its models (CalendarToken, FreezeWindow) stay in ``releases``."""

    name = "calendars"
    verbose_name = "Release calendar"

    def ready(self):
        from . import cache

        # A rendered feed is replaced when anything it shows is written.
        cache.connect()
