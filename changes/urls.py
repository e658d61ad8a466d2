from django.urls import path

from . import views

app_name = "changes"

urlpatterns = [
    path("", views.rfc_list_view, name="list"),
    path("new/", views.rfc_create_view, name="create"),
    path("<int:pk>/", views.rfc_detail_view, name="detail"),
    path("<int:pk>/edit/", views.rfc_edit_view, name="edit"),
    path("<int:pk>/transitions/<slug:name>/", views.rfc_transition_view, name="transition"),
]
