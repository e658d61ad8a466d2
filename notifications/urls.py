from django.urls import path

from .preferences import queue_preference_view
from .views import VendorInboundView

urlpatterns = [
    # How a person hears of work landing in their queue.
    path("me/notifications/", queue_preference_view, name="queue-preference"),
    # Signed updates from vendors' systems.
    path("api/vendors/<int:vendor_id>/inbound/", VendorInboundView.as_view(), name="vendor-inbound"),
]
