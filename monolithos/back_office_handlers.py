"""The new handler of the back office's order form (``/orders/new/``): legacy contract, new code.

The same page, the same redirect to the order and the same error page with 400 as
``monolithos.views.order_create``, but the order is placed on the new path
(``monolithos.deferred_placement``): the shipment, the invoice PDF and the mails follow from the
workers, so the order's page shows its shipment pending until the dispatch worker ran. This
module must not import ``monolithos.order_manager`` (an import-linter contract).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from monolithos import deferred_placement
from monolithos.models import Product
from monolithos.placement import OrderError

FORM = "monolithos/order_form.html"


def form_lines(post: QueryDict, products: list[Product]) -> list[dict[str, Any]]:
    """The form's quantity fields as order lines, as the legacy form read them.

    An empty field is no line; zero is no line; anything else that is not a whole number is a
    quantity of -1, which placement refuses by name ("invalid quantity for SKU").
    """
    lines: list[dict[str, Any]] = []
    for product in products:
        raw = post.get(f"qty_{product.sku}", "").strip()
        if not raw:
            continue
        try:
            quantity = int(raw)
        except ValueError:
            quantity = -1
        if quantity != 0:
            lines.append({"sku": product.sku, "quantity": quantity})
    return lines


@login_required
@require_http_methods(["GET", "POST"])
def order_create(request: HttpRequest) -> HttpResponse:
    products = list(Product.objects.order_by("sku"))
    if request.method == "GET":
        return render(request, FORM, {"products": products})
    data = {
        "customer_name": request.POST.get("customer_name", ""),
        "customer_email": request.POST.get("customer_email", ""),
        "shipping_address": request.POST.get("shipping_address", ""),
        "discount_code": request.POST.get("discount_code", ""),
        "lines": form_lines(request.POST, products),
    }
    try:
        order = deferred_placement.place(data)
    except OrderError as error:
        return render(
            request,
            FORM,
            {"products": products, "error": str(error), "form": request.POST},
            status=400,
        )
    return redirect("monolithos:order_detail", order_id=order.pk)
