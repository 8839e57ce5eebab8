# Hidden side effect (LEGACY.md): every new Order, from any code path (the order manager,
# the admin, a shell), mails the sales team. Nothing at the call site says so.
from django.conf import settings
from django.core.mail import send_mail
from django.db.models.signals import post_save
from django.dispatch import receiver

from monolithos.models import Order


@receiver(post_save, sender=Order)
def notify_sales_team(sender, instance, created, **kwargs):
    if created:
        send_mail(
            "New order for %s" % instance.customer.email,
            "A new order was placed by %s: total EUR %s."
            % (instance.customer.email, instance.total),
            settings.DEFAULT_FROM_EMAIL,
            [settings.SALES_TEAM_EMAIL],
        )
