from django.db import models


class CIType(models.TextChoices):
    APPLICATION = "application", "Application"
    SERVICE = "service", "Service"
    SERVER = "server", "Server"
    DATABASE = "database", "Database"
    NETWORK = "network", "Network device"
    LIBRARY = "library", "Library or component"
    DOCUMENT = "document", "Document"


class CIStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    LIVE = "live", "Live"
    RETIRED = "retired", "Retired"


class BaselineKind(models.TextChoices):
    PRE_RELEASE = "pre_release", "Pre-release (restore point)"
    POST_RELEASE = "post_release", "Post-release"
    RESTORED = "restored", "Restored after rollback"
    MANUAL = "manual", "Manual"


class BaselineState(models.TextChoices):
    OPEN = "open", "Open"
    CAPTURED = "captured", "Captured"
    ARCHIVED = "archived", "Archived"
