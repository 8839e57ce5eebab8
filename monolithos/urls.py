from django.urls import path
from django.views.generic import RedirectView

from monolithos import views

app_name = "monolithos"

# The back office's order form and the web shop's JSON routes are strangled: config/urls.py
# mounts them in this namespace, each with its legacy view and its new handler.

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="monolithos:order_list"), name="home"),
    path("orders/", views.order_list, name="order_list"),
    path("orders/<int:order_id>/", views.order_detail, name="order_detail"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("reports/", views.reports, name="reports"),
]
