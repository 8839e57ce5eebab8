"""Logging in to the back office: where a login lands."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize("next_url", ["https://attacker.example/", "//attacker.example/", ""])
def test_a_login_whose_next_is_refused_lands_in_the_back_office(client: Client, next_url: str):
    staff = StaffUserFactory()

    response = client.post(
        f"/admin/login/?next={next_url}",
        {"username": staff.username, "password": PASSWORD},
        follow=True,
    )

    assert response.redirect_chain[0][0] == "/"
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == "/orders/"
