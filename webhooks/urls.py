from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list_view, name="list"),
    path("<int:pk>/", views.subscription_detail_view, name="detail"),
    path("<int:pk>/deliveries/<int:delivery_id>/redeliver/", views.redeliver_view, name="redeliver"),
]
