from django.urls import path

from . import views
from .views.standard_changes import standard_change_list_view, standard_change_withdraw_view
from .views.templates import template_create_view, template_edit_view, template_list_view

app_name = "releases"

urlpatterns = [
    path("releases/", views.release_list_view, name="list"),
    path("releases/new/", views.release_create_view, name="create"),
    path("releases/<int:pk>/", views.release_detail_view, name="detail"),
    path("releases/<int:pk>/edit/", views.release_edit_view, name="edit"),
    path("releases/<int:pk>/transitions/<slug:name>/", views.release_transition_view, name="transition"),
    path("releases/<int:pk>/records/<slug:record_type>/", views.record_add_view, name="record_add"),
    path("releases/<int:pk>/records/<slug:record_type>/<int:record_id>/edit/", views.record_edit_view,
         name="record_edit"),
    path("releases/<int:pk>/scope/", views.scope_add_view, name="scope_add"),
    path("releases/<int:pk>/tasks/", views.task_add_view, name="task_add"),
    path("releases/<int:pk>/checks/", views.live_check_view, name="live_check"),
    path("releases/<int:pk>/baseline/", views.baseline_capture_view, name="baseline_capture"),
    path("releases/<int:pk>/acceptance/", views.acceptance_view, name="acceptance"),
    path("templates/", template_list_view, name="templates"),
    path("templates/new/", template_create_view, name="template_create"),
    path("templates/<int:pk>/", template_edit_view, name="template_edit"),
    path("queue/", views.queue_view, name="queue"),
    path("standard-changes/", standard_change_list_view, name="standard_changes"),
    path("standard-changes/<int:pk>/withdraw/", standard_change_withdraw_view, name="standard_change_withdraw"),
    path("cab/", views.cab_queue_view, name="cab_queue"),
    path("cab/<int:pk>/", views.cab_review_view, name="cab_review"),
    path("cab/<int:pk>/vote/", views.cab_vote_view, name="cab_vote"),
    path("tasks/", views.task_board_view, name="tasks"),
    path("tasks/<int:pk>/", views.task_detail_view, name="task"),
    path("tasks/<int:pk>/transitions/<slug:name>/", views.task_transition_view, name="task_transition"),
]
