"""The ops panel in a real browser against the running system (gunicorn, its real database).

Headless chromium signs in through the admin's login form. A user who is not staff is refused
by it and sees neither the page nor its JSON (a signed-in user who is not staff gets a 403:
tests/integration/strangler/test_ops_panel.py). Staff move a route from legacy to canary 25 %
and back, press the kill switch and lift it, and advance the data phase to ``verify``, each by
the page's forms, and each change is read back from the page and from the database. A change
made elsewhere (the command) and the traffic of a route reach the open page by its polling,
without a reload. The panel's screenshot is saved (``--ops-panel-screenshot
docs/ops-panel.png`` refreshes the README's).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils.text import capfirst
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import ROOT
from tests.system.browser import (
    PAGE_SECONDS,
    chromium,
    fill,
    messages,
    save_screenshot,
    sign_in,
    submit_and_wait,
)
from tests.system.conftest import RunningSystem, http, query, start_system

PANEL = "/ops/strangler/"
ROUTE = "api_track_order"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[RunningSystem]:
    extra = {"STRANGLER_STATE_FALLBACK_SECONDS": "0.5", "STRANGLER_TRAFFIC_FLUSH_SECONDS": "0.5"}
    with start_system(tmp_path, workers=1, extra_env=extra, suite_database=True) as running:
        query(
            running,
            "from django.contrib.auth.models import User\n"
            "User.objects.create_user('clerk', password='clerk-password')\nresult = True",
        )
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    with chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def stored(system: RunningSystem) -> dict[str, Any]:
    """The strangler's state as the database holds it."""
    result: dict[str, Any] = query(
        system,
        "from strangler.models import ModeChange, RouteMode, StranglerState\n"
        f"row = RouteMode.objects.filter(route={ROUTE!r}).first()\n"
        "state = StranglerState.objects.filter(pk=1).first()\n"
        "result = {\n"
        "    'route': [row.mode, row.basis_points] if row else ['legacy', 0],\n"
        "    'killed': bool(state and state.killed),\n"
        "    'phase': state.phase if state else 'legacy',\n"
        "    'by_panel': ModeChange.objects.filter(via='panel').count(),\n"
        "}",
    )
    return result


def manage(system: RunningSystem, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=system.env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def route_form(driver: WebDriver) -> Any:
    return driver.find_element(By.CSS_SELECTOR, f"#route-{ROUTE} form.mode-form")


def route_mode_on_page(driver: WebDriver, route: str = ROUTE) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f"#route-{route} .route-mode").text)


def figure(driver: WebDriver, path: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f'[data-state="traffic.{ROUTE}.{path}"]').text)


def served_in_the_hour(driver: WebDriver) -> int:
    return int(figure(driver, "served_60m.legacy")) + int(figure(driver, "served_60m.new"))


def compared_in_the_hour(driver: WebDriver) -> int:
    return int(figure(driver, "compared_60m"))


def set_mode(driver: WebDriver, mode: str, *, percent: str = "", reason: str) -> None:
    form = route_form(driver)
    Select(form.find_element(By.NAME, "mode")).select_by_value(mode)
    fill(form, "percent", percent)
    fill(form, "reason", reason)
    submit_and_wait(driver, form.find_element(By.CSS_SELECTOR, "[type=submit]"))


def use_kill_switch(driver: WebDriver, reason: str) -> None:
    form = driver.find_element(By.ID, "kill-form")
    fill(form, "reason", reason)
    form.find_element(By.NAME, "confirm").click()
    submit_and_wait(driver, form.find_element(By.ID, "kill-submit"))


def test_staff_shift_a_route_switch_and_phase_from_the_panel(system, browser, request, tmp_path):
    web = system.web

    # Not staff: the admin's login refuses the account, and the panel's data stays unseen.
    sign_in(browser, web, username="clerk", password="clerk-password", next=PANEL)
    assert browser.current_url == f"{web}/admin/login/?next={PANEL}"
    assert "for a staff account" in browser.find_element(By.CSS_SELECTOR, ".errornote").text
    assert ROUTE not in browser.page_source
    browser.get(f"{web}{PANEL}state.json")
    assert ROUTE not in browser.page_source
    assert "sign in as staff" in browser.page_source

    # Staff: the panel, after the admin's login page.
    sign_in(browser, web, username="admin", password="admin", next=PANEL)
    assert browser.current_url == f"{web}{PANEL}"
    assert browser.find_element(By.ID, "strangler-panel")
    assert route_mode_on_page(browser) == "legacy"

    set_mode(browser, "canary", percent="25", reason="first quarter")
    assert messages(browser) == [capfirst(f"{ROUTE}: legacy -> canary 25.00 %")]
    assert route_mode_on_page(browser) == "canary 25.00 %"
    assert stored(system)["route"] == ["canary", 2500]

    set_mode(browser, "legacy", reason="back to legacy")
    assert messages(browser) == [capfirst(f"{ROUTE}: canary 25.00 % -> legacy")]
    assert route_mode_on_page(browser) == "legacy"
    assert stored(system)["route"] == ["legacy", 0]

    use_kill_switch(browser, "errors climbing")
    assert messages(browser) == [capfirst("kill switch engaged: every route is served by legacy")]
    assert browser.find_element(By.ID, "kill-state").text.startswith("ENGAGED")
    assert stored(system)["killed"] is True

    use_kill_switch(browser, "errors gone")
    assert messages(browser) == [capfirst("kill switch lifted: every route is back in its mode")]
    assert browser.find_element(By.ID, "kill-state").text == "lifted"
    assert stored(system)["killed"] is False

    manage(system, "strangler", "phase", "parity")  # verify's preconditions: a parity run
    browser.get(f"{web}{PANEL}")
    form = browser.find_element(By.ID, "phase-form")
    fill(form, "reason", "parity clean, backfill complete")
    submit_and_wait(browser, browser.find_element(By.ID, "phase-submit"))
    assert messages(browser) == [capfirst("data phase: legacy -> verify")]
    assert browser.find_element(By.ID, "phase-current").text == "verify"
    state = stored(system)
    assert state["phase"] == "verify"
    assert state["by_panel"] == 5
    audit = browser.find_element(By.ID, "audit-log").text
    assert audit.count(" panel ") == 5

    # A change made elsewhere reaches the open page by its polling (no reload).
    manage(system, "strangler", "set", "api_place_order", "shadow", "--reason", "compare")
    WebDriverWait(browser, PAGE_SECONDS).until(
        lambda driver: route_mode_on_page(driver, "api_place_order") == "shadow"
    )

    # Traffic: counted by the server, flushed, and shown by the page's polling.
    manage(system, "strangler", "set", ROUTE, "canary", "--percent", "50", "--reason", "half")
    for order_id in range(1, 41):
        assert http(f"{web}/api/orders/{order_id}/track/")[0] < 500
    manage(system, "strangler", "set", ROUTE, "shadow", "--reason", "compare the rest")
    for order_id in range(41, 61):
        assert http(f"{web}/api/orders/{order_id}/track/")[0] < 500
    WebDriverWait(browser, PAGE_SECONDS).until(
        lambda driver: served_in_the_hour(driver) == 60 and compared_in_the_hour(driver) == 20
    )
    assert browser.find_elements(By.CSS_SELECTOR, f"#route-{ROUTE} polyline.series")
    browser.get(f"{web}{PANEL}")  # the forms as a fresh page shows them, for the screenshot

    option = request.config.getoption("--ops-panel-screenshot")
    save_screenshot(browser, Path(option) if option else tmp_path / "ops-panel.png")
