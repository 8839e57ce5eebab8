from django.urls import path
from django.views.generic import RedirectView

from monolithos import views

app_name = "monolithos"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="monolithos:order_list"), name="home"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("reports/", views.reports, name="reports"),
    path("api/orders/", views.api_place_order, name="api_place_order"),
    path("api/orders/<int:order_id>/track/", views.api_track_order, name="api_track_order"),
    path("api/orders/<int:order_id>/ship/", views.api_ship_order, name="api_ship_order"),
    path("api/orders/<int:order_id>/invoice.pdf", views.api_invoice_pdf, name="api_invoice_pdf"),
]
