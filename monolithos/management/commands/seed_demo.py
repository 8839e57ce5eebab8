"""Demo data for the embedded defaults: products, customers and a staff login.

Idempotent: running it again updates nothing that exists and creates only what is missing.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from monolithos import catalogue
from monolithos.models import Customer, Product

PRODUCTS = [
    ("PALLET-EUR", "Euro pallet 1200x800", "18.50", 120),
    ("BOX-S", "Shipping box, small", "0.90", 500),
    ("BOX-M", "Shipping box, medium", "1.40", 400),
    ("BOX-L", "Shipping box, large", "2.10", 300),
    ("TAPE-50", "Packing tape 50 mm", "3.20", 200),
    ("WRAP-500", "Stretch wrap 500 mm", "24.00", 60),
    ("LABEL-A6", "Shipping labels A6, 500", "12.75", 80),
    ("STRAP-KIT", "Strapping kit", "89.00", 8),
    ("SCALE-150", "Parcel scale 150 kg", "249.00", 4),
    ("TROLLEY", "Warehouse trolley", "179.00", 6),
]

CUSTOMERS = [
    ("Ada Freight Ltd", "ops@adafreight.example"),
    ("Babbage Warehousing", "orders@babbage.example"),
    ("Curie Couriers", "desk@curie.example"),
]

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "admin"  # noqa: S105  (embedded defaults only; refused in production)


class Command(BaseCommand):
    help = "Create demo products, customers and (outside production) an admin/admin superuser."

    def handle(self, *args, **options):
        created = 0
        for sku, name, price, stock in PRODUCTS:
            _, was_created = Product.objects.get_or_create(
                sku=sku, defaults={"name": name, "price": Decimal(price), "stock": stock}
            )
            created += was_created
        catalogue.changed()
        for name, email in CUSTOMERS:
            _, was_created = Customer.objects.get_or_create(email=email, defaults={"name": name})
            created += was_created
        if settings.PRODUCTION:
            self.stdout.write("Production settings: no demo superuser created.")
        else:
            user_model = get_user_model()
            if not user_model.objects.filter(username=DEMO_USERNAME).exists():
                user_model.objects.create_superuser(
                    DEMO_USERNAME, "admin@monolithos.example", DEMO_PASSWORD
                )
                created += 1
                self.stdout.write("Demo superuser: admin / admin")
        self.stdout.write(self.style.SUCCESS(f"seed_demo: {created} object(s) created"))
