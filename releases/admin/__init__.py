"""Django admin for releases, their tasks and step records, and the audit trail.

The admin translates forms and buttons into the use cases of
``releases.services``; see ``releasemgmt.admin_mixins`` for how. One module
per concern; importing them here registers their admins.
"""
from . import audit, calendar, common, notifications, records, release, tasks, teams, templates  # noqa: F401
from . import standard_changes  # noqa: F401
from .records import StepRecordAdmin  # noqa: F401
