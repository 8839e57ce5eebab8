"""Routes of the order intake API, mounted under /api/v1/ by config/urls.py."""

from django.urls import path

from monolithos.api import OrderAcceptApi, OrderRequestApi

app_name = "orders_api"

urlpatterns = [
    path("orders/", OrderAcceptApi.as_view(), name="order_accept"),
    path("orders/requests/<int:request_id>/", OrderRequestApi.as_view(), name="order_request"),
]
