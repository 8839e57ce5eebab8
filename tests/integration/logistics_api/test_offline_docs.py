"""The API's docs work offline: Swagger UI and ReDoc load only files the app itself serves.

Each page is fetched from the app, every script, stylesheet and icon it references is fetched
from the app too (no CDN URL, no other host), and in development a browser asking for HTML
gets DRF's browsable API.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(databases=["default", "logistics"])


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def assets_of(page: str) -> list[str]:
    parser = Assets()
    parser.feed(page)
    return parser.urls


def content(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/docs/", {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"}),
        ("/api/redoc/", {"redoc.standalone.js"}),
    ],
)
def test_the_docs_page_and_every_asset_it_references_come_from_the_app(
    client: Client, path: str, expected: set[str]
) -> None:
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    urls = assets_of(html)

    assert {urlsplit(url).path.rsplit("/", 1)[-1] for url in urls} >= expected
    assert not re.search(r"(https?:)?//(?!localhost|testserver)[\w.-]+\.\w+/", html)
    for url in urls:
        parts = urlsplit(urljoin(f"http://testserver{path}", url))
        assert parts.netloc == "testserver", url
        asset = client.get(parts.path, dict(re.findall(r"([^&=]+)=([^&]*)", parts.query)))
        assert asset.status_code == 200, url
        assert content(asset), url


def test_a_browser_gets_the_browsable_api_in_development(client: Client) -> None:
    client.force_login(StaffUserFactory())

    response = client.get("/api/v1/shipments/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Django REST framework" in response.content.decode()
