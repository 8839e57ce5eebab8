"""Fixtures for every tier: a real supplier simulator process, isolated media, fast hashing."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.harness.system import supplier_argv
from tests import strangler_modes
from tests.redis_server import free_port

__all__ = ["ROOT", "SupplierSimulator", "free_port"]

ROOT = Path(__file__).resolve().parent.parent
CHARACTERIZATION = ROOT / "tests" / "characterization"


DATABASES = ["default", "logistics"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--strangler-modes",
        default=",".join(strangler_modes.MODES),
        help="the modes the characterization suite runs in, every strangled route in each "
        "(comma-separated; default: legacy,shadow,new)",
    )
    parser.addoption(
        "--ownership-phases",
        default=",".join(strangler_modes.PHASES),
        help="the data ownership phases the characterization suite runs in, each with every "
        "mode (comma-separated; default: legacy,verify,logistics)",
    )
    parser.addoption(
        "--ops-panel-screenshot",
        default=None,
        metavar="PATH",
        help="where the ops panel's browser test saves its screenshot (docs/ops-panel.png to "
        "refresh the README's; default: the test's temporary directory)",
    )


def _chosen(config: pytest.Config, option: str, known: tuple[str, ...]) -> list[str]:
    chosen = [value.strip() for value in config.getoption(option).split(",")]
    unknown = set(chosen) - set(known)
    if unknown or not chosen:
        raise pytest.UsageError(f"{option}: unknown value(s) {sorted(unknown)}")
    return chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CHARACTERIZATION not in Path(metafunc.definition.path).parents:
        return
    if "ownership_phase" in metafunc.fixturenames:
        phases = _chosen(metafunc.config, "--ownership-phases", strangler_modes.PHASES)
        metafunc.parametrize("ownership_phase", phases, indirect=True, scope="function")
    if "strangler_mode" in metafunc.fixturenames:
        modes = _chosen(metafunc.config, "--strangler-modes", strangler_modes.MODES)
        metafunc.parametrize("strangler_mode", modes, indirect=True, scope="function")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the database may use both aliases unless it names its own.

    The legacy app now writes shipments to the logistics database through the facade, so a test
    of a legacy endpoint touches both, whichever fixture (``db``, a mark) gave it database access.
    A characterization test that meets a declared difference of the mode it runs in is expected
    to fail there (tests/strangler_modes.py).
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        mode = callspec.params.get("strangler_mode") if callspec is not None else None
        function = getattr(item, "originalname", item.name)
        difference = mode and strangler_modes.declared_difference(mode, item.path.name, function)
        if difference:
            item.add_marker(
                pytest.mark.xfail(
                    strict=True, reason=f"declared difference in {mode}: {difference}"
                )
            )
        fixtures = set(getattr(item, "fixturenames", ()))
        marker = item.get_closest_marker("django_db")
        uses_db = marker is not None or {"db", "transactional_db"} & fixtures
        if not uses_db or (marker is not None and "databases" in marker.kwargs):
            continue
        args = marker.args if marker is not None else ()
        kwargs = dict(marker.kwargs) if marker is not None else {}
        if "transactional_db" in fixtures:
            kwargs.setdefault("transaction", True)
        item.add_marker(pytest.mark.django_db(*args, databases=DATABASES, **kwargs), append=False)


class SupplierSimulator:
    """Client for a supplier_sim process: its API for the code under test, its admin for tests."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def reset(self, **chaos: Any) -> None:
        self._call("PUT", "/_admin/chaos", chaos)
        self._call("POST", "/_admin/reset")

    def set_chaos(self, **chaos: Any) -> None:
        self._call("PUT", "/_admin/chaos", chaos)

    def received(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_admin/requests")["requests"]
        return result

    def ledger(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/ledger")["dispatches"]
        return result

    def healthy(self) -> bool:
        try:
            self._call("GET", "/health")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return True


@pytest.fixture(scope="session")
def supplier_process() -> Iterator[SupplierSimulator]:
    """One simulator process for the whole run, deterministic and well-behaved by default."""
    port = free_port()
    process = subprocess.Popen(
        supplier_argv(port, chaos=False, seed=7),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    simulator = SupplierSimulator(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while not simulator.healthy():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the supplier simulator did not start (python -m supplier_sim)")
        time.sleep(0.05)
    yield simulator
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def supplier(supplier_process: SupplierSimulator, settings: Any) -> SupplierSimulator:
    """The simulator, reset to an empty ledger and no chaos, wired into the settings."""
    supplier_process.reset(failure_rate=0.0, hang_rate=0.0, hang_seconds=5.0, seed=7)
    settings.SUPPLIER_API_URL = supplier_process.url
    return supplier_process


class LogLines:
    """Every log line written while the fixture is active, as the JSON formatter renders it."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def raw(self) -> str:
        return self._stream.getvalue()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw.splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("event") == name]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    from observability.logging import json_formatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield LogLines(stream)
    finally:
        root.removeHandler(handler)


@pytest.fixture(autouse=True)
def ownership_phase(request: pytest.FixtureRequest) -> str:
    """The data ownership phase: legacy, unless the characterization suite runs in another
    (tests/strangler_modes.py)."""
    phase: str = getattr(request, "param", "legacy")
    return phase


@pytest.fixture(autouse=True)
def strangler_mode(
    request: pytest.FixtureRequest, settings: Any, ownership_phase: str
) -> Iterator[str]:
    """Every strangled route in one mode: legacy, unless the characterization suite runs in
    another (tests/strangler_modes.py), in the data phase ``ownership_phase``. Routed by a fixed
    state, no database; shadow candidates run inline. In ``verify``, every read of the shipping
    data must have agreed with logistics by the end of the test."""
    from strangler.testing import override_modes

    mode: str = getattr(request, "param", "legacy")
    with override_modes(all_routes=mode, phase=ownership_phase):
        if mode == "new":
            with strangler_modes.workers_after_each_request(settings):
                yield mode
        else:
            yield mode
    if ownership_phase == "verify" and CHARACTERIZATION in Path(request.path).parents:
        strangler_modes.assert_every_verify_read_agreed(request)


@pytest.fixture(autouse=True)
def _fresh_supplier_protection(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Each test starts as a fresh system would: closed breaker, empty caches (quotes). Without
    Redis the breaker's state is a file of the test's own, not the checkout's var/."""
    from django.core.cache import cache

    from logistics import wiring

    settings.BREAKER_STATE_FILE = tmp_path / "breaker.sqlite3"
    cache.clear()
    wiring.supplier_breaker.cache_clear()
    wiring.supplier_bulkhead.cache_clear()
    if settings.REDIS_URL:
        wiring.supplier_breaker().reset()
    yield
    wiring.supplier_breaker.cache_clear()


@pytest.fixture(autouse=True)
def _broker_and_cache_answering() -> None:
    """Each test starts as a fresh process would: it has seen the broker and the cache answer."""
    from config import cache
    from outbox import broker

    broker.broker_state.succeeded()
    cache.cache_state.succeeded()


@pytest.fixture(autouse=True)
def _no_remembered_tokens() -> None:
    """Each test starts as a fresh process would: no token authenticated yet."""
    from httpapi.authentication import recent_tokens

    recent_tokens.forget_all()


@pytest.fixture(autouse=True)
def _isolated_media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
