from django.contrib import admin

from config import routers
from monolithos import catalogue
from monolithos.mailer import NotificationService
from monolithos.models import Customer, Invoice, Order, OrderLine, OrderRequest, Product
from monolithos.shipping_columns import SHIPPING_COLUMNS


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "created_at")
    search_fields = ("name", "email")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "stock")
    search_fields = ("sku", "name")

    # Stock and price are what the intake's catalogue copies hold (docs/adr/0025).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalogue.changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalogue.changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalogue.changed()


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """The shipping columns are the shipment's copy: shown read-only while the data phase
    writes them, and not at all once it does not (contract: stale, then dropped, so the
    class's own lists never name them)."""

    list_display = ("number", "customer", "status", "total", "created_at")
    list_filter = ("status",)
    search_fields = ("number", "customer__email")
    raw_id_fields = ("customer",)
    inlines = [OrderLineInline]

    def get_list_display(self, request):
        display = list(self.list_display)
        if routers.shipping_columns_written():
            display.insert(display.index("status") + 1, "shipping_status")
        return display

    def get_list_filter(self, request):
        if routers.shipping_columns_written():
            return (*self.list_filter, "shipping_status")
        return self.list_filter

    def get_search_fields(self, request):
        if routers.shipping_columns_written():
            return (*self.search_fields, "tracking_number", "supplier_reference")
        return self.search_fields

    def get_readonly_fields(self, request, obj=None):
        written = routers.shipping_columns_written()
        return [*super().get_readonly_fields(request, obj), *(SHIPPING_COLUMNS if written else ())]

    def get_exclude(self, request, obj=None):
        if routers.shipping_columns_written() or routers.shipping_columns_dropped():
            return super().get_exclude(request, obj)
        return [*(super().get_exclude(request, obj) or ()), *SHIPPING_COLUMNS]

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
