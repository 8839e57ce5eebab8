# NotificationService: every mail the legacy app sends, in one injectable place. The sales-team
# mail used to hide in a post_save signal (LEGACY.md: gone); callers now send it explicitly.
#
# The mails themselves now belong to the notifications app (templates under
# notifications/templates/notifications/<kind>/): this class only turns an order into the
# strings those templates need, formatted exactly as the old send_mail calls did, and asks the
# notifications port. The default port delivers inline, so the legacy pages' mails exist when
# the request returns; an order mails each kind once (the idempotency keys below).
from django.conf import settings

from monolithos.pricing import format_money
from notifications.public import Notifications
from notifications.public import NotificationService as EmailNotifications


class NotificationService:
    def __init__(self, notifications: Notifications | None = None):
        self.notifications = notifications or EmailNotifications(deliver_inline=True)

    def send_confirmation(self, order):
        lines = "\n".join(
            "  %d x %s  %s" % (line.quantity, line.sku, format_money(line.line_total))
            for line in order.lines.all()
        )
        self.notifications.notify(
            "order_confirmation",
            order.customer.email,
            {
                "order_number": str(order.number),
                "shipping_name": order.shipping_name,
                "lines": lines,
                "total": format_money(order.total),
            },
            idempotency_key="order-confirmation:%s" % _order_key(order),
        )

    def send_cancellation(self, order):
        self.notifications.notify(
            "order_cancelled",
            order.customer.email,
            {"order_number": str(order.number), "shipping_name": order.shipping_name},
            idempotency_key="order-cancelled:%s" % _order_key(order),
        )

    def notify_sales_team(self, order):
        self.notifications.notify(
            "sales_new_order",
            settings.SALES_TEAM_EMAIL,
            {"customer_email": order.customer.email, "total": "EUR %s" % order.total},
            idempotency_key="sales-new-order:%s" % _order_key(order),
        )

    def send_request_rejected(self, request):
        # An order request accepted with 202 whose order could not be placed after all (the stock
        # went to earlier orders): the customer hears it, not only the client that follows it.
        reasons = "\n".join(
            "  %s" % message for messages in request.errors.values() for message in messages
        )
        self.notifications.notify(
            "order_request_rejected",
            request.payload["customer_email"],
            {
                "shipping_name": request.payload["customer_name"],
                "request_id": str(request.pk),
                "reasons": reasons,
            },
            idempotency_key="order-request-rejected:%s" % request.pk,
        )


def _order_key(order):
    # An order added in the admin has no number (None): its primary key identifies it as well.
    return order.number or order.pk
