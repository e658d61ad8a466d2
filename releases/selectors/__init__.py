"""Read-only questions the browser UI asks, answered in a fixed number of queries.

Nothing here writes: every change goes through ``releases.services`` (and
``changes.services``, ``cmdb.services``). The pages call these helpers so the
views stay thin and the query counts stay flat however many records a
release carries. One module per page or concern:

- ``access``: who sees and does what (roles, teams, vendors; a task's buttons);
- ``release_page``: one release with what its page and guards read, its history, the step tracker;
- ``cab``: plans before the CAB, a member's queue, the tally;  ``diff``: plan versions word by word;
- ``queues`` and ``dashboard_page``: the work queues and the dashboard;  ``listing``: the release list;
- ``board``: the task board. (The calendar's entries are the calendars app's: calendars.selectors.)
"""
from .access import ACTIVE_TASK_STATES, ENDED, Membership, task_actions
from .board import BOARD_COLUMN_SIZE, BOARD_DONE_DAYS, BOARD_STATES, task_board
from .cab import CAB_PAGE_SIZE, VoteTally, cab_queue, plans_under_review, previous_plan, vote_tally
from .dashboard_page import DASHBOARD_DEPLOYMENTS, DASHBOARD_RELEASES, dashboard, upcoming_deployments
from .diff import PLAN_FIELDS, plan_diff, word_diff
from .listing import release_list
from .queues import (
    DASHBOARD_QUEUE,
    QUEUED_ELSEWHERE,
    QUEUE_FIELDS,
    _acting,
    _OnlyItsType,
    go_queue,
    role_queue,
)
from .release_page import (
    BLOCKER_TARGETS,
    NO_GENERIC_FORM,
    StepRow,
    delivery_log,
    process_tracker,
    release_creation,
    release_for_page,
)
