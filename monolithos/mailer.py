# NotificationService: every mail the legacy app sends, in one injectable place. The sales-team
# mail used to hide in a post_save signal (LEGACY.md: gone); callers now send it explicitly.
from django.conf import settings
from django.core.mail import send_mail

from monolithos.pricing import format_money


class NotificationService:
    def send_confirmation(self, order):
        lines = "\n".join(
            "  %d x %s  %s" % (line.quantity, line.sku, format_money(line.line_total))
            for line in order.lines.all()
        )
        send_mail(
            "Your order %s" % order.number,
            "Hello %s,\n\nthank you for your order %s.\n\n%s\n\nTotal: %s\n"
            % (order.shipping_name, order.number, lines, format_money(order.total)),
            settings.DEFAULT_FROM_EMAIL,
            [order.customer.email],
        )

    def send_cancellation(self, order):
        send_mail(
            "Your order %s has been cancelled" % order.number,
            "Hello %s,\n\nyour order %s has been cancelled.\n"
            % (order.shipping_name, order.number),
            settings.DEFAULT_FROM_EMAIL,
            [order.customer.email],
        )

    def notify_sales_team(self, order):
        send_mail(
            "New order for %s" % order.customer.email,
            "A new order was placed by %s: total EUR %s." % (order.customer.email, order.total),
            settings.DEFAULT_FROM_EMAIL,
            [settings.SALES_TEAM_EMAIL],
        )
