from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from releasemgmt.workflow import Blocker, guard, reason_given

from .choices import ChangeType, Level, RfcState as R
from .querysets import ChangeRequestQuerySet, ProblemQuerySet

CM = ("change_manager",)
ACTIVE_RELEASE_EXCLUDED = ("cancelled", "closed")


@guard(context=True)
def not_requester(rfc, ctx):
    """Segregation of duties: nobody assesses or authorises their own RFC,
    nor one they raised on the requester's behalf."""
    if ctx.by is None or ctx.by.pk is None:
        return
    if ctx.by.pk == rfc.requester_id:
        yield Blocker("segregation_of_duties", "You requested this RFC, so you may not assess or authorise it.")
    elif ctx.by.pk == rfc.raised_by_id:
        yield Blocker("segregation_of_duties", "You raised this RFC on the requester's behalf, so you may not "
                                               "assess or authorise it.")


@guard
def not_in_active_release(rfc, ctx):
    for release in rfc.releases.exclude(state__in=ACTIVE_RELEASE_EXCLUDED):
        yield Blocker("in_active_release", f"{rfc.number} is part of {release.number}, which is still open.")


def rfc_decided(rfc) -> dict:
    """What Change Management signs when it authorises or rejects an RFC:
    the RFC as requested and assessed."""
    return {"rfc": rfc.number, "rfc_id": rfc.pk, "title": rfc.title, "description": rfc.description,
            "requester": rfc.requester.get_username(), "change_type": rfc.change_type, "risk": rfc.risk,
            "impact": rfc.impact, "state": rfc.state}


class ChangeRequest(ConcurrentTransitionMixin, models.Model):
    """A Request for Change (RFC): a formal proposal for a change, assessed and
    authorised by Change Management, then delivered by one or more releases.

    Once authorised, its lifecycle is driven by the release that carries it:
    scheduled with the release, reviewed when the release is accepted, failed
    when it is rolled back, closed with the release's closure comments.
    """

    title = models.CharField(max_length=200)
    description = models.TextField()
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rfcs")
    # An RFC raised on someone's behalf (in the admin) is the raiser's
    # proposal as much as the requester's: segregation of duties treats both
    # alike. Set by changes.services.rfc_create; empty only on rows written
    # outside it (bulk loads), where the requester raised it.
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+", help_text="Who raised the RFC: the requester, or whoever "
                                                              "raised it in the requester's name.")
    change_type = models.CharField(max_length=20, choices=ChangeType.choices, default=ChangeType.NORMAL)
    risk = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    impact = models.CharField(max_length=10, choices=Level.choices, default=Level.MEDIUM)
    state = FSMField(choices=R.choices, default=R.SUBMITTED, protected=True)
    closure_comments = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()
    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "RFC"
        verbose_name_plural = "RFCs"
        indexes = [models.Index(fields=["state"])]

    def __str__(self):
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        return f"RFC-{self.pk:05d}" if self.pk else "RFC-new"

    def proposer_ids(self) -> set:
        """Who proposed this change, for segregation of duties: its requester
        and whoever raised it in the requester's name."""
        return {pk for pk in (self.requester_id, self.raised_by_id) if pk is not None}

    # -- Change Management's decisions --

    @transition(field=state, source=R.SUBMITTED, target=R.ASSESSED, custom={"roles": CM, "checks": [not_requester]})
    def assess(self, *, by=None):
        pass

    @transition(field=state, source=R.ASSESSED, target=R.AUTHORIZED,
                custom={"roles": CM + ("cab_member",), "checks": [not_requester], "label": "Authorise",
                        "signed": rfc_decided})
    def authorize(self, *, by=None):
        pass

    # Rejecting an RFC is Change Management's decision on it as much as
    # authorising is (the audit evidence lists both as its authorisation), so
    # it is signed alike. Assessing prepares the decision and cancelling
    # withdraws the request: neither decides it.
    @transition(field=state, source=[R.SUBMITTED, R.ASSESSED], target=R.REJECTED,
                custom={"roles": CM + ("cab_member",), "checks": [reason_given, not_requester],
                        "signed": rfc_decided})
    def reject(self, *, by=None):
        pass

    @transition(field=state, source=[R.SUBMITTED, R.ASSESSED, R.AUTHORIZED], target=R.CANCELLED,
                conditions=[not_in_active_release],
                custom={"setback": True, "roles": CM + ("release_manager",), "checks": [reason_given]})
    def cancel(self, *, by=None):
        pass

    # -- driven by the release that carries the RFC --

    @transition(field=state, source=R.AUTHORIZED, target=R.SCHEDULED, custom={"internal": True})
    def schedule(self, *, by=None):
        pass

    @transition(field=state, source=R.SCHEDULED, target=R.AUTHORIZED, custom={"internal": True})
    def unschedule(self, *, by=None):
        """Its release was cancelled: the RFC is authorised and waits for another."""

    @transition(field=state, source=R.SCHEDULED, target=R.IMPLEMENTED, custom={"internal": True})
    def implement(self, *, by=None):
        pass

    @transition(field=state, source=R.IMPLEMENTED, target=R.REVIEWED, custom={"internal": True})
    def review(self, *, by=None):
        pass

    @transition(field=state, source=[R.SCHEDULED, R.IMPLEMENTED, R.REVIEWED], target=R.FAILED,
                custom={"internal": True})
    def fail(self, *, by=None):
        pass

    @transition(field=state, source=[R.REVIEWED, R.FAILED], target=R.CLOSED, custom={"internal": True})
    def close(self, *, by=None, comments=""):
        self.closure_comments = comments


# --- Problem Management -----------------------------------------------------------------

PROBLEM_ROLES = ("release_manager", "change_manager")


@guard
def root_cause_recorded(problem, ctx):
    if not problem.root_cause.strip():
        yield Blocker("root_cause_missing", "The root cause has not been recorded yet.")


@guard
def corrective_actions_recorded(problem, ctx):
    if not problem.corrective_actions.strip():
        yield Blocker("corrective_actions_missing", "No corrective actions have been recorded yet.")


class Problem(ConcurrentTransitionMixin, models.Model):
    """A problem record (ITIL Problem Management): the investigation of the
    underlying cause of a failed change, here a release that had to be rolled
    back (step 17). It starts with the release's timeline (who did what, when)
    so the analysis begins from the evidence; it is known when its root cause
    is recorded, and closed once the corrective actions that prevent a
    recurrence are agreed. One problem record per failed release."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ROOT_CAUSE_KNOWN = "root_cause_known", "Root cause known"
        CLOSED = "closed", "Closed"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    release = models.OneToOneField("releases.Release", on_delete=models.PROTECT, related_name="problem",
                                   help_text="The failed (rolled back) release under analysis.")
    rfcs = models.ManyToManyField(ChangeRequest, related_name="problems", blank=True, verbose_name="RFCs")
    timeline = models.TextField(blank=True, help_text="The release's history as it stood when the problem "
                                                      "was opened: transitions, deployment, rollback, reviews.")
    root_cause = models.TextField(blank=True)
    corrective_actions = models.TextField(blank=True)
    state = FSMField(choices=State.choices, default=State.OPEN, protected=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(m2m_fields=[rfcs])
    objects = ProblemQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        return f"PRB-{self.pk:05d}" if self.pk else "PRB-new"

    @transition(field=state, source=State.OPEN, target=State.ROOT_CAUSE_KNOWN, conditions=[root_cause_recorded],
                custom={"roles": PROBLEM_ROLES, "label": "Root cause known"})
    def identify_root_cause(self, *, by=None):
        pass

    @transition(field=state, source=State.ROOT_CAUSE_KNOWN, target=State.CLOSED,
                conditions=[corrective_actions_recorded], custom={"roles": PROBLEM_ROLES})
    def close(self, *, by=None):
        pass
