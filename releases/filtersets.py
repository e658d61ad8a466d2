import django_filters as df

from releasemgmt.filters import FilterSet, IdFilter, IntegerFilter, UtcIsoDateTimeFilter

from .choices import ReleaseState, ReleaseType, TaskState
from .models import Release, Task


class ReleaseFilter(FilterSet):
    # distinct=False: state is a column of the row itself, and django-filter's
    # default DISTINCT made the page count sort every column of every
    # matching release.
    state = df.MultipleChoiceFilter(choices=ReleaseState.choices, distinct=False)
    release_type = df.ChoiceFilter(choices=ReleaseType.choices)
    release_manager = IdFilter()
    ci = IdFilter(field_name="scope_items__ci", distinct=True, label="Configuration item in scope")
    rfc = IdFilter(field_name="rfcs", distinct=True, label="Linked RFC")
    planned_after = UtcIsoDateTimeFilter(field_name="planned_end", lookup_expr="gte",
                                         label="Planned window ends at or after")
    planned_before = UtcIsoDateTimeFilter(field_name="planned_start", lookup_expr="lte",
                                          label="Planned window starts at or before")

    class Meta:
        model = Release
        fields = ["state", "release_type", "release_manager", "ci", "rfc", "planned_after", "planned_before"]


class TaskFilter(FilterSet):
    state = df.MultipleChoiceFilter(choices=TaskState.choices, distinct=False)  # a column: no DISTINCT
    release = IdFilter()
    step = IntegerFilter()
    assignee_user = IdFilter()
    assignee_team = IdFilter()
    assignee_vendor = IdFilter()
    due_after = UtcIsoDateTimeFilter(field_name="planned_end", lookup_expr="gte")
    due_before = UtcIsoDateTimeFilter(field_name="planned_end", lookup_expr="lte")

    class Meta:
        model = Task
        fields = ["state", "release", "step", "assignee_user", "assignee_team", "assignee_vendor"]
