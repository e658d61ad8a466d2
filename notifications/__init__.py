"""Who is told what, the outbox relay (Celery) and vendor routing, built on
the release process (``releases``), which never imports it: the process
announces each transition (``releasemgmt.events``) and this app listens."""
