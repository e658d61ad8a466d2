from django.urls import path

from . import views

app_name = "cmdb"

urlpatterns = [
    path("", views.ci_list_view, name="ci_list"),
    path("cis/new/", views.ci_add_view, name="ci_add"),
    path("cis/<int:pk>/", views.ci_detail_view, name="ci_detail"),
    path("baselines/", views.baseline_list_view, name="baseline_list"),
    path("baselines/<int:pk>/", views.baseline_detail_view, name="baseline_detail"),
]
