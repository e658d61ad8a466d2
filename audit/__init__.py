"""The audit evidence export (page, API and management command), built on
the release process (``releases``), which never imports it."""
