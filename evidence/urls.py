from django.urls import path

from . import views

app_name = "evidence"

urlpatterns = [
    path("evidence/attach/<slug:record_type>/<int:record_id>/", views.attach_view, name="attach"),
    path("evidence/<int:pk>/download/", views.download_view, name="download"),
]
