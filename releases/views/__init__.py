"""Views of the browser UI for releases: thin translations of forms and
buttons into calls of ``releases.services``; reads come from
``releases.selectors``."""
from .cab import cab_queue_view, cab_review_view, cab_vote_view  # noqa: F401
from .checks import live_check_view  # noqa: F401
from .dashboard import dashboard_view, queue_view  # noqa: F401
from .release import (  # noqa: F401
    acceptance_view,
    baseline_capture_view,
    record_add_view,
    record_edit_view,
    release_create_view,
    release_detail_view,
    release_edit_view,
    release_list_view,
    release_transition_view,
    scope_add_view,
    task_add_view,
)
from .tasks import task_board_view, task_detail_view, task_transition_view  # noqa: F401
