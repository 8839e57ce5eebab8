"""A real browser for system tests: Debian's headless chromium driven by Selenium through
Debian's chromedriver.

Nothing downloads a browser or a driver: both paths are given (``Service(executable_path)``,
``binary_location``), so Selenium Manager is never asked, and it is told to stay offline in
case it were. A missing chromium or chromedriver fails the test with what to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_SECONDS = 30


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.fail(
            f"the browser test needs Debian's chromium and chromedriver ({', '.join(missing)} "
            "missing): apt-get install chromium chromium-driver (.ci/run does)"
        )
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager, if ever asked, downloads nothing
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def sign_in(driver: WebDriver, web: str, *, username: str, password: str, next: str) -> None:
    """Through the admin's login form, as a person does."""
    driver.delete_all_cookies()
    driver.get(f"{web}{next}")
    WebDriverWait(driver, PAGE_SECONDS).until(
        expected_conditions.presence_of_element_located((By.ID, "id_username"))
    )
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    submit_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]"))


def submit_and_wait(driver: WebDriver, button: WebElement) -> None:
    """Press a form's button and wait until the page it leads to has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, PAGE_SECONDS).until(expected_conditions.staleness_of(page))
    WebDriverWait(driver, PAGE_SECONDS).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def messages(driver: WebDriver) -> list[str]:
    """The admin's messages on the page (django.contrib.messages), as the admin shows them:
    with a capital first letter (``capfirst``)."""
    items = driver.find_elements(By.CSS_SELECTOR, "ul.messagelist li")
    return [str(item.get_attribute("textContent")).strip() for item in items]


def fill(form: WebElement, name: str, value: str) -> None:
    field = form.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def save_screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page, not only the window: resized to the document's height first."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 40, 6000))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
