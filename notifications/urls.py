from django.urls import path

from .views import VendorInboundView

# Signed updates from vendors' systems.
urlpatterns = [
    path("api/vendors/<int:vendor_id>/inbound/", VendorInboundView.as_view(), name="vendor-inbound"),
]
