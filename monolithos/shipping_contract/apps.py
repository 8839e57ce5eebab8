"""Django app of the contract's release: migrations only, no model."""

from __future__ import annotations

from django.apps import AppConfig


class ShippingContractConfig(AppConfig):
    name = "monolithos.shipping_contract"
    label = "monolithos_shipping_contract"
    verbose_name = "Legacy shipping columns: the contract's release"
