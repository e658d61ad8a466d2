from django.db import models


class RfcState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    ASSESSED = "assessed", "Assessed"
    AUTHORIZED = "authorized", "Authorised"
    SCHEDULED = "scheduled", "Scheduled"
    IMPLEMENTED = "implemented", "Implemented"
    REVIEWED = "reviewed", "Reviewed"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ChangeType(models.TextChoices):
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    EMERGENCY = "emergency", "Emergency"


class Level(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
