from django.contrib import admin

from monolithos.mailer import NotificationService
from monolithos.models import Customer, Invoice, Order, OrderLine, OrderRequest, Product


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "created_at")
    search_fields = ("name", "email")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "stock")
    search_fields = ("sku", "name")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "status", "shipping_status", "total", "created_at")
    list_filter = ("status", "shipping_status")
    search_fields = ("number", "customer__email", "tracking_number", "supplier_reference")
    raw_id_fields = ("customer",)
    inlines = [OrderLineInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # Said out loud where the hidden post_save signal used to do it.
            NotificationService().notify_sales_team(obj)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "order", "amount", "created_at")
    search_fields = ("number",)
    raw_id_fields = ("order",)


@admin.register(OrderRequest)
class OrderRequestAdmin(admin.ModelAdmin):
    """Order requests of POST /api/v1/orders/: what the intake accepted and what became of it."""

    list_display = ("id", "owner", "status", "order", "created_at", "processed_at")
    list_filter = ("status",)
    search_fields = ("idempotency_key", "order__number", "trace_id")
    readonly_fields = [field.name for field in OrderRequest._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
