from django.conf import settings
from django.db import models


class Customer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.name} <{self.email}>"


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.IntegerField(default=0)

    def __str__(self):
        return f"{self.sku} {self.name}"


class Order(models.Model):
    # Order.status and Order.shipping_status overlap (LEGACY.md: duplicated state).
    STATUS_CHOICES = [
        ("placed", "Placed"),
        ("shipped", "Shipped"),
        ("cancelled", "Cancelled"),
    ]
    SHIPPING_STATUS_CHOICES = [
        ("pending", "Pending"),
        ("dispatched", "Dispatched"),
        ("dispatch_failed", "Dispatch failed"),
        ("cancelled", "Cancelled"),
    ]

    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    # Who placed it: the authenticated caller of the v1 API, the customer's own user on the
    # unauthenticated shop path. The shipment's owner; the customer's email is contact data.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="placed")
    discount_code = models.CharField(max_length=32, blank=True, default="")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping_name = models.CharField(max_length=200)
    shipping_address = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    # Legacy shipping columns: the logistics context owns this data (expand-contract, phase by
    # phase: config/routers.py). Defaults in the database too, so that the contract's release,
    # whose model has none of them (SHIPPING_COLUMNS_DROPPED), inserts orders before the drop.
    if not settings.SHIPPING_COLUMNS_DROPPED:
        shipping_status = models.CharField(
            max_length=20, choices=SHIPPING_STATUS_CHOICES, default="pending", db_default="pending"
        )
        tracking_number = models.CharField(max_length=64, blank=True, default="", db_default="")
        supplier_reference = models.CharField(max_length=64, blank=True, default="", db_default="")
        dispatched_at = models.DateTimeField(null=True, blank=True)
        # The version of the shipment these columns were last copied from: an older change that
        # arrives late is ignored (monolithos.shipping_columns).
        shipping_version = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("place_order_for_any_customer", "Can place orders for any customer through the API")
        ]
        indexes = [
            # The sweep for orders without their shipment scans the last day's orders.
            models.Index(fields=["created_at"], name="order_created_idx"),
        ]

    def __str__(self):
        return self.number or f"order #{self.pk}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    sku = models.CharField(max_length=64)
    quantity = models.IntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self):
        return f"{self.quantity} x {self.sku}"


class Invoice(models.Model):
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="invoice")
    number = models.CharField(max_length=20, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    pdf = models.FileField(upload_to="invoices/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # One PDF per version: a render is owed while rendered_version lags behind version.
    version = models.PositiveIntegerField(default=1)
    rendered_version = models.PositiveIntegerField(null=True, blank=True)

    @property
    def render_pending(self):
        return self.rendered_version is None or self.rendered_version < self.version

    def __str__(self):
        return self.number


class OrderRequest(models.Model):
    """An order as POST /api/v1/orders/ accepted it, before a worker placed (or rejected) it.

    Accepting an order is this one INSERT (docs/adr/0011-accept-first-order-intake.md): the
    intake worker then places it through ``OrderManager.accept_order`` and records the outcome
    here, where the client follows it (``GET /api/v1/orders/requests/<id>/``). The row is also
    the client's Idempotency-Key: unique per client, kept at least IDEMPOTENCY_KEY_TTL_HOURS
    once processed; a request still received is never purged.
    """

    RECEIVED = "received"
    PLACED = "placed"
    REJECTED = "rejected"
    STATUSES = [(RECEIVED, "Received"), (PLACED, "Placed"), (REJECTED, "Rejected")]

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=STATUSES, default=RECEIVED)
    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="request"
    )
    errors = models.JSONField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="order_request_key_per_owner",
            )
        ]
        indexes = [
            # The sweep's and the purge's scans: requests still waiting, requests done.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="received"),
                name="order_request_waiting",
            ),
            models.Index(fields=["processed_at"], name="order_request_processed"),
        ]

    def __str__(self):
        return "order request %s (%s)" % (self.pk, self.status)
