"""Routes of the order intake and the order resources, mounted under /api/v1/ by config/urls.py."""

from django.urls import path

from monolithos.api import OrderAcceptApi, OrderRequestApi
from monolithos.order_api import OrderDetailApi, OrderInvoiceApi, OrderTrackingApi

app_name = "orders_api"

urlpatterns = [
    path("orders/", OrderAcceptApi.as_view(), name="order_accept"),
    path("orders/requests/<int:request_id>/", OrderRequestApi.as_view(), name="order_request"),
    path("orders/<int:order_id>/", OrderDetailApi.as_view(), name="order_detail"),
    path("orders/<int:order_id>/tracking/", OrderTrackingApi.as_view(), name="order_tracking"),
    path("orders/<int:order_id>/invoice.pdf", OrderInvoiceApi.as_view(), name="order_invoice"),
]
