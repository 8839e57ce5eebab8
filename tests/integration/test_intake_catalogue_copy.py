"""The intake's copy of the catalogue: read once per version, new after a stock or price change.

Against a private redis-server as CACHE_URL's cache (tests/redis_server.py); queries are
counted by Django's ``CaptureQueriesContext``; commits run their ``on_commit`` callbacks through
pytest-django's ``django_capture_on_commit_callbacks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from monolithos import catalogue
from monolithos.models import OrderRequest, Product
from monolithos.repository import DatabaseRepo
from tests.factories import ProductFactory, ShopAccountFactory, api_client
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])

URL = "/api/v1/orders/"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("catalogue-redis")) as server:
        yield server


@pytest.fixture
def shared_cache(settings: Any, redis_server: RedisServer) -> None:
    settings.CACHE_URL = redis_server.url()
    settings.CACHES = {
        "default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": redis_server.url()}
    }
    cache.clear()


@pytest.fixture
def box() -> Product:
    product: Product = ProductFactory(sku="BOX-S", price="12.50", stock=10)
    return product


@pytest.fixture
def api() -> APIClient:
    return api_client(ShopAccountFactory())


def order_body(quantity: int = 2) -> dict[str, Any]:
    return {
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "shipping_address": "12 Analytical Row\nLondon",
        "lines": [{"sku": "BOX-S", "quantity": quantity}],
    }


def product_reads(client: APIClient, quantity: int = 2) -> tuple[int, int]:
    """(status, how many queries read the product table) of one POST."""
    with CaptureQueriesContext(connection) as queries:
        status = client.post(URL, order_body(quantity), format="json").status_code
    reads = sum(
        query["sql"].startswith("SELECT") and '"monolithos_product"' in query["sql"]
        for query in queries.captured_queries
    )
    return status, reads


@pytest.mark.usefixtures("shared_cache", "box")
def test_a_sku_is_read_once_per_catalogue_version(api: APIClient) -> None:
    assert [product_reads(api) for _ in range(3)] == [(202, 1), (202, 0), (202, 0)]


@pytest.mark.usefixtures("shared_cache")
def test_a_stock_change_gives_the_catalogue_a_new_version_once_committed(
    api: APIClient, box: Product, django_capture_on_commit_callbacks: Any
) -> None:
    product_reads(api)
    before = catalogue.current_version()

    with django_capture_on_commit_callbacks(execute=True):
        assert DatabaseRepo().take_stock(box, 9)

    assert catalogue.current_version() != before
    # 1 left: read again into the copy, refused, and the refusal confirmed by the database.
    assert product_reads(api) == (400, 2)


@pytest.mark.usefixtures("shared_cache")
def test_a_copy_that_missed_a_change_never_refuses_what_the_database_takes(
    api: APIClient, box: Product
) -> None:
    assert product_reads(api, quantity=10) == (202, 1)
    # Restocked behind the copy's back (an UPDATE that gave the catalogue no new version).
    Product.objects.filter(pk=box.pk).update(stock=50)

    status, reads = product_reads(api, quantity=40)

    assert (status, reads) == (202, 1)  # the copy said 10 left, so the database was asked
    assert OrderRequest.objects.count() == 2


@pytest.mark.usefixtures("box")
def test_without_a_shared_cache_every_check_is_the_database_s(
    api: APIClient, settings: Any
) -> None:
    settings.CACHE_URL = None

    assert [product_reads(api) for _ in range(2)] == [(202, 1), (202, 1)]
