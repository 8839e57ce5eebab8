# DatabaseRepo: the ORM queries OrderManager used to write inline, behind one injectable object.
# The views still query the ORM directly (LEGACY.md).
from django.db.models import F

from config import routers
from monolithos import catalogue
from monolithos.models import Customer, Invoice, Order, OrderLine, Product


class DatabaseRepo:
    def product_by_sku(self, sku):
        return Product.objects.filter(sku=sku).first()

    def take_stock(self, product, quantity):
        """Conditional UPDATE: False when the stock is no longer there (a concurrent order won)."""
        taken = bool(
            Product.objects.filter(pk=product.pk, stock__gte=quantity).update(
                stock=F("stock") - quantity
            )
        )
        if taken:
            catalogue.changed()  # the intake's copies read the stock again (docs/adr/0025)
        return taken

    def release_stock(self, product_id, quantity):
        Product.objects.filter(pk=product_id).update(stock=F("stock") + quantity)
        catalogue.changed()

    def customer_for(self, email, name):
        customer, _ = Customer.objects.get_or_create(email=email, defaults={"name": name})
        return customer

    def create_order(self, **fields):
        return Order.objects.create(**fields)

    def create_line(self, **fields):
        return OrderLine.objects.create(**fields)

    def create_invoice(self, **fields):
        return Invoice.objects.create(**fields)

    def mark_dispatch_failed(self, order):
        """A dispatch that failed before the shipment could say so (its listener did not run).

        Not in the phase that no longer writes the shipping columns (contract)."""
        if not routers.shipping_columns_written():
            return
        Order.objects.filter(pk=order.pk, shipping_status="pending").update(
            shipping_status="dispatch_failed"
        )

    def lock_order(self, order_id):
        return Order.objects.select_for_update().get(pk=order_id)

    def orders_since(self, since):
        return Order.objects.filter(created_at__gte=since).exclude(status="cancelled")

    def products_below(self, threshold):
        return Product.objects.filter(stock__lt=threshold).order_by("sku")
