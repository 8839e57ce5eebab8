"""Root URLconf: operational endpoints, the admin, the APIs, the legacy app at the root.

The strangled routes are mounted here once each, both handlers named (``strangled_path``): the
strangler picks one per request by the route's mode (docs/adr/0016). They share the legacy
app's namespace, so ``monolithos:api_place_order`` and the others reverse as they always did.
"""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from config import strangled_routes as routes
from monolithos import back_office_handlers, shop_handlers, views
from monolithos import urls as legacy_urls
from monolithos.shop_api_key import shop_api_key_required as shop_key
from strangler.urls import strangled_path

# One line per strangled route: its URL, its legacy handler, its new handler. The shop's JSON
# routes need LEGACY_SHOP_API_KEY once it is set, whichever side serves them.
# fmt: off
strangled: list[URLPattern | URLResolver] = [
    strangled_path("orders/new/", routes.ORDER_FORM, legacy=views.order_create, new=back_office_handlers.order_create),  # noqa: E501
    strangled_path("api/orders/", routes.PLACE_ORDER, legacy=shop_key(views.api_place_order), new=shop_key(shop_handlers.place_order)),  # noqa: E501
    strangled_path("api/orders/<int:order_id>/track/", routes.TRACK_ORDER, legacy=shop_key(views.api_track_order), new=shop_key(shop_handlers.track_order)),  # noqa: E501
    strangled_path("api/orders/<int:order_id>/ship/", routes.SHIP_ORDER, legacy=shop_key(views.api_ship_order), new=shop_key(shop_handlers.ship_order)),  # noqa: E501
    strangled_path("api/orders/<int:order_id>/invoice.pdf", routes.INVOICE_PDF, legacy=shop_key(views.api_invoice_pdf), new=shop_key(shop_handlers.invoice_pdf)),  # noqa: E501
]
# fmt: on

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("observability.urls")),
    path("admin/", admin.site.urls),
    path("ops/strangler/", include("strangler.urls")),
    path("api/v1/", include("logistics.api.urls")),
    path("api/v1/", include("monolithos.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Its script is a file of its own (?script), so the page needs no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api_schema", template_name="httpapi/redoc.html"),
        name="api_redoc",
    ),
    path("", include(([*strangled, *legacy_urls.urlpatterns], legacy_urls.app_name))),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
