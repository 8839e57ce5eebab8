from django.urls import path
from django.views.generic import RedirectView

from monolithos import views
from monolithos.shop_api_key import shop_api_key_required

app_name = "monolithos"

# The shop's JSON endpoints need LEGACY_SHOP_API_KEY once it is set (monolithos/shop_api_key.py).
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="monolithos:order_list"), name="home"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("reports/", views.reports, name="reports"),
    path("api/orders/", shop_api_key_required(views.api_place_order), name="api_place_order"),
    path(
        "api/orders/<int:order_id>/track/",
        shop_api_key_required(views.api_track_order),
        name="api_track_order",
    ),
    path(
        "api/orders/<int:order_id>/ship/",
        shop_api_key_required(views.api_ship_order),
        name="api_ship_order",
    ),
    path(
        "api/orders/<int:order_id>/invoice.pdf",
        shop_api_key_required(views.api_invoice_pdf),
        name="api_invoice_pdf",
    ),
]
