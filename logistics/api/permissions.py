"""Who may do what through the logistics API.

Reading needs an authenticated user (the project default, ``IsAuthenticated``); which shipments
they see is the selectors' business. Dispatching and cancelling need a manager: a staff user or
a user holding ``logistics.manage_shipments`` (what a service token's user is given).
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

MANAGE_SHIPMENTS = "logistics.manage_shipments"


def can_manage_shipments(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if getattr(user, "is_staff", False):
        return True
    return isinstance(user, PermissionsMixin) and user.has_perm(MANAGE_SHIPMENTS)


class CanManageShipments(BasePermission):
    message = "Only staff or a user allowed to manage shipments may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return can_manage_shipments(request.user)
