from django.urls import path

from . import problem_views, views

app_name = "changes"

urlpatterns = [
    path("", views.rfc_list_view, name="list"),
    path("new/", views.rfc_create_view, name="create"),
    path("<int:pk>/", views.rfc_detail_view, name="detail"),
    path("<int:pk>/edit/", views.rfc_edit_view, name="edit"),
    path("<int:pk>/transitions/<slug:name>/", views.rfc_transition_view, name="transition"),
    path("problems/", problem_views.problem_list_view, name="problem_list"),
    path("problems/<int:pk>/", problem_views.problem_detail_view, name="problem_detail"),
    path("problems/<int:pk>/transitions/<slug:name>/", problem_views.problem_transition_view,
         name="problem_transition"),
    path("problems/open/<int:release_pk>/", problem_views.problem_open_view, name="problem_open"),
]
