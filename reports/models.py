"""What the reports keep of the release process: the stays."""
from django.db import models


class Stay(models.Model):
    """The time a release spent in one state of its lifecycle, from the
    transition that brought it there to the one that moved it on (ITIL:
    the duration of each stage of the release and deployment process, the
    figure service improvement compares with the agreed targets).

    Written by the reports as each transition is performed, in the same
    transaction (``reports.stays``); the stay a release stands in has no
    ``left``. The first stay of a release (``new``, from its creation to its
    first transition) has no ``entered_by``. ``release_type`` is the
    release's type, copied so the reports group stays without a join."""

    release = models.ForeignKey("releases.Release", on_delete=models.CASCADE, related_name="+")
    release_type = models.CharField(max_length=20)
    state = models.CharField(max_length=30)
    entered = models.DateTimeField()
    left = models.DateTimeField(null=True, blank=True)
    # The transition that brought the release into this state, and the state
    # it came from, as the transition log says (blank for the first stay).
    entered_by = models.CharField(max_length=50, blank=True)
    entered_from = models.CharField(max_length=30, blank=True)
    # Set when the stay is left: the whole hours it lasted beyond its first,
    # h for more than h and at most h + 1 hours (``stays.HoursAbove``). The
    # reports count stays per hour with it, and the targets being whole
    # hours, a stay is over a target of T hours exactly when this is T or more.
    hours = models.IntegerField(null=True, blank=True)
    # Facts of the release's history known when the stay begins, so that the
    # reports read the period's stays alone rather than every earlier stay of
    # its releases (``stays.FACTS``): the start of what this stay ends as a
    # pair (for a CAB decision, the submission it answers; for a return to
    # ``rolled_back``, the rollback it completes), and whether this is the
    # release's first stay in ``deployed``.
    paired_at = models.DateTimeField(null=True, blank=True)
    first_deployment = models.BooleanField(default=False, db_default=False)

    class Meta:
        # Stays of a release follow one another in the order of its log
        # (time, then log id): ids are given in that order.
        ordering = ["release_id", "entered", "id"]
        indexes = [
            models.Index(fields=["release", "entered"], name="stay_release_entered"),
            # The time in each step: stays that ended in the period, counted
            # per hour from the index alone, then the few hours holding the
            # ranks the median and 90th percentile read.
            models.Index(fields=["left"], name="stay_left", include=["release_type", "state", "hours", "entered_by"]),
            models.Index(fields=["state", "release_type", "hours", "left"], name="stay_state_hours"),
            # The other figures: the transitions performed in the period, and
            # the first deployments.
            models.Index(fields=["entered_by", "entered"], name="stay_entered_by"),
            models.Index(fields=["state", "entered"], name="stay_state_entered"),
            # The CAB decisions and restores, and the first deployments, of
            # the period: a few rows in a long history.
            models.Index(fields=["entered"], name="stay_paired", include=["paired_at", "entered_by"],
                         condition=models.Q(paired_at__isnull=False)),
            models.Index(fields=["entered"], name="stay_first_deployment", include=["release"],
                         condition=models.Q(first_deployment=True)),
        ]
        constraints = [
            # One stay at a time: a release stands in one state.
            models.UniqueConstraint(fields=["release"], condition=models.Q(left__isnull=True),
                                    name="stay_one_open_per_release"),
        ]

    def __str__(self):
        return f"{self.release_id}: {self.state} from {self.entered:%Y-%m-%d %H:%M}"


class StayMonth(models.Model):
    """The stays that ended in one month that is over (UTC), counted per
    release type, state and whole hour (``Stay.hours``): the histogram the
    time in each step sums for the months a period covers whole, as service
    improvement looks back over years. Kept from the first report that needs
    the month; forgotten when a stay of that month changes
    (``reports.months``)."""

    month = models.DateField(unique=True, help_text="The month's first day.")
    # [[release_type, state, hours, count], ...]: the stays left in the
    # month by a transition (a release's first stay, from its creation, is
    # not measured), every state and type.
    counts = models.JSONField(default=list)

    def __str__(self):
        return f"stays of {self.month:%Y-%m}"
