"""Routes of the logistics API, mounted under /api/v1/ by config/urls.py."""

from __future__ import annotations

from django.urls import path

from logistics.api import views

app_name = "logistics_api"

urlpatterns = [
    path("shipments/", views.ShipmentListApi.as_view(), name="shipment_list"),
    path(
        "shipments/<uuid:shipment_id>/", views.ShipmentDetailApi.as_view(), name="shipment_detail"
    ),
    path(
        "shipments/<uuid:shipment_id>/dispatch/",
        views.ShipmentDispatchApi.as_view(),
        name="shipment_dispatch",
    ),
    path(
        "shipments/<uuid:shipment_id>/cancel/",
        views.ShipmentCancelApi.as_view(),
        name="shipment_cancel",
    ),
    path("tracking/<str:order_ref>/", views.TrackingApi.as_view(), name="tracking"),
]
