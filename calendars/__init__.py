"""The release calendar: entries, iCalendar feeds and the calendar pages,
built on the release process (``releases``), which never imports it."""
