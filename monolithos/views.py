# Legacy views: HTML pages for the back office and JSON endpoints for the web shop.
# ORM calls live right here in the views (LEGACY.md); the JSON endpoints have no
# authentication and no CSRF protection.
import json

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from monolithos import shipping_data
from monolithos.invoicing import invoice_pdf_exists
from monolithos.models import Order, Product
from monolithos.order_manager import OrderError, OrderManager, SupplierError
from monolithos.shop_bodies import order_body  # the one JSON shape of an order, both sides

# ---------------------------------------------------------------------- HTML pages


@login_required
@require_GET
def order_list(request):
    status = request.GET.get("status")
    orders = Order.objects.all()
    if status:
        # Only a known status reaches the query: a NUL in it was a 500 on PostgreSQL (LEGACY.md).
        known = status in dict(Order.STATUS_CHOICES)
        orders = orders.filter(status=status) if known else Order.objects.none()
    # order.customer in the template runs one query per row; the shipping data one at most.
    page = list(orders[:50])
    shipping = shipping_data.read_many(page, reader="views.order_list")
    rows = [(order, shipping[order.pk]) for order in page]
    return render(request, "monolithos/order_list.html", {"orders": rows, "status": status})


@login_required
@require_GET
def order_detail(request, order_id):
    try:
        order = Order.objects.get(pk=order_id)
    except Order.DoesNotExist:
        return render(request, "monolithos/not_found.html", {"order_id": order_id}, status=404)
    invoice = order.invoice if hasattr(order, "invoice") else None
    return render(
        request,
        "monolithos/order_detail.html",
        {
            "order": order,
            "shipping": shipping_data.read(order, reader="views.order_detail"),
            "lines": order.lines.all(),
            "invoice": invoice,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def order_create(request):
    products = Product.objects.order_by("sku")
    if request.method == "GET":
        return render(request, "monolithos/order_form.html", {"products": products})
    lines = []
    for product in products:
        raw = request.POST.get("qty_%s" % product.sku, "").strip()
        if raw:
            try:
                qty = int(raw)
            except ValueError:
                qty = -1
            if qty != 0:
                lines.append({"sku": product.sku, "quantity": qty})
    data = {
        "customer_name": request.POST.get("customer_name", ""),
        "customer_email": request.POST.get("customer_email", ""),
        "shipping_address": request.POST.get("shipping_address", ""),
        "discount_code": request.POST.get("discount_code", ""),
        "lines": lines,
    }
    try:
        order = OrderManager().place_order(data)
    except OrderError as e:
        return render(
            request,
            "monolithos/order_form.html",
            {"products": products, "error": str(e), "form": request.POST},
            status=400,
        )
    return redirect("monolithos:order_detail", order_id=order.pk)


@login_required
@require_POST
def order_cancel(request, order_id):
    try:
        order = Order.objects.get(pk=order_id)
    except Order.DoesNotExist:
        return render(request, "monolithos/not_found.html", {"order_id": order_id}, status=404)
    try:
        OrderManager().cancel_order(order)
    except OrderError as e:
        order.refresh_from_db()
        return render(
            request,
            "monolithos/order_detail.html",
            {
                "order": order,
                "shipping": shipping_data.read(order, reader="views.order_cancel"),
                "lines": order.lines.all(),
                "error": str(e),
            },
            status=400,
        )
    return redirect("monolithos:order_detail", order_id=order.pk)


@login_required
@require_GET
def reports(request):
    manager = OrderManager()
    return render(
        request,
        "monolithos/reports.html",
        {"sales": manager.sales_report(), "low_stock": manager.low_stock_report()},
    )


# ---------------------------------------------------------------------- JSON endpoints


@csrf_exempt
@require_POST
def api_place_order(request):
    try:
        data = json.loads(request.body)
    except:
        return JsonResponse({"error": "malformed JSON"}, status=400)
    try:
        order = OrderManager().place_order(data)
    except OrderError as e:
        return JsonResponse({"error": str(e)}, status=400)
    return JsonResponse(order_body(order), status=201)


@require_GET
def api_track_order(request, order_id):
    try:
        order = Order.objects.get(pk=order_id)
    except Order.DoesNotExist:
        return JsonResponse({"error": "order not found"}, status=404)
    return JsonResponse(OrderManager().track_order(order))


@csrf_exempt
@require_POST
def api_ship_order(request, order_id):
    try:
        order = Order.objects.get(pk=order_id)
    except Order.DoesNotExist:
        return JsonResponse({"error": "order not found"}, status=404)
    try:
        OrderManager().ship_order(order)
    except OrderError as e:
        return JsonResponse({"error": str(e)}, status=400)
    except SupplierError as e:
        return JsonResponse({"error": str(e)}, status=502)
    except Exception as e:
        return JsonResponse(
            {"error": "supplier unreachable: %s" % e.__class__.__name__}, status=502
        )
    return JsonResponse(order_body(order))


@require_GET
def api_invoice_pdf(request, order_id):
    try:
        order = Order.objects.get(pk=order_id)
        invoice = order.invoice
    except Order.DoesNotExist:
        return JsonResponse({"error": "order not found"}, status=404)
    except Exception:
        return JsonResponse({"error": "invoice not found"}, status=404)
    if invoice.render_pending:
        # A worker owes this render (monolithos.tasks.sweep_pending_invoices re-enqueues one
        # whose message was lost): tell the client when to come back.
        response = JsonResponse({"status": "pending", "retry_after": 5}, status=202)
        response["Retry-After"] = "5"
        return response
    if not invoice_pdf_exists(invoice):
        # The file of a rendered version was lost (an old invoice): rendered here, as always.
        OrderManager().render_invoice(invoice)
    return FileResponse(
        invoice.pdf.open("rb"),
        content_type="application/pdf",
        filename="%s.pdf" % invoice.number,
    )
