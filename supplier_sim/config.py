"""Listening and chaos settings for the simulator, resolved from CLI flags, env and defaults.

A CLI flag beats its environment variable, which beats the default, so a Procfile can set the
environment while a developer still overrides a single knob on the command line.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


@dataclass(frozen=True)
class ChaosConfig:
    """How unreliable the simulated supplier is; `seed=None` means nondeterministic."""

    failure_rate: float = 0.5
    hang_rate: float = 0.1
    hang_seconds: float = 5.0
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "failure_rate": self.failure_rate,
            "hang_rate": self.hang_rate,
            "hang_seconds": self.hang_seconds,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    chaos: ChaosConfig


class SettingsError(ValueError):
    """A setting holds a value the simulator cannot run with; the message names its source."""


def rate_problem(value: float) -> str | None:
    # Written as a positive range test so that NaN fails it too.
    if not 0.0 <= value <= 1.0:
        return "must be within [0, 1]"
    return None


def hang_seconds_problem(value: float) -> str | None:
    if not math.isfinite(value) or value < 0:
        return "must be a finite number >= 0"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m supplier_sim",
        description="Simulated Supplier Protocol API with injectable failures and hangs.",
    )
    # Every option is read as text with no default so that an absent flag can fall back to the
    # environment, and so that bad values from either source get the same error wording.
    parser.add_argument("--host", help=f"SUPPLIER_SIM_HOST, default {DEFAULT_HOST}")
    parser.add_argument("--port", help=f"SUPPLIER_SIM_PORT, default {DEFAULT_PORT}")
    parser.add_argument("--failure-rate", help="SUPPLIER_SIM_FAILURE_RATE in [0, 1], default 0.5")
    parser.add_argument("--hang-rate", help="SUPPLIER_SIM_HANG_RATE in [0, 1], default 0.1")
    parser.add_argument("--hang-seconds", help="SUPPLIER_SIM_HANG_SECONDS >= 0, default 5.0")
    parser.add_argument("--seed", help="SUPPLIER_SIM_SEED integer, default: nondeterministic")
    return parser


def _pick(
    cli_value: str | None, flag: str, env_name: str, environ: Mapping[str, str]
) -> tuple[str, str] | None:
    """The raw value and the name of where it came from, or None to use the default."""
    if cli_value is not None:
        return cli_value, flag
    env_value = environ.get(env_name, "")
    # An empty variable is how shells and Procfiles say "unset".
    if env_value.strip():
        return env_value, env_name
    return None


def _to_float(raw: str, source: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{source}: expected a number, got {raw!r}") from None


def _to_int(raw: str, source: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{source}: expected an integer, got {raw!r}") from None


def resolve_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Combine parsed CLI flags with the environment; raises SettingsError on bad values."""
    defaults = ChaosConfig()

    host = DEFAULT_HOST
    if picked := _pick(args.host, "--host", "SUPPLIER_SIM_HOST", environ):
        host = picked[0].strip()
        if not host:
            raise SettingsError(f"{picked[1]}: must not be empty")

    port = DEFAULT_PORT
    if picked := _pick(args.port, "--port", "SUPPLIER_SIM_PORT", environ):
        port = _to_int(*picked)
        if not 0 <= port <= 65535:
            raise SettingsError(f"{picked[1]}: must be within [0, 65535], got {picked[0]!r}")

    rates: dict[str, float] = {}
    for name, flag, env_name, default in (
        ("failure_rate", "--failure-rate", "SUPPLIER_SIM_FAILURE_RATE", defaults.failure_rate),
        ("hang_rate", "--hang-rate", "SUPPLIER_SIM_HANG_RATE", defaults.hang_rate),
    ):
        rates[name] = default
        if picked := _pick(getattr(args, name), flag, env_name, environ):
            rates[name] = _to_float(*picked)
            if problem := rate_problem(rates[name]):
                raise SettingsError(f"{picked[1]}: {problem}, got {picked[0]!r}")

    hang_seconds = defaults.hang_seconds
    if picked := _pick(args.hang_seconds, "--hang-seconds", "SUPPLIER_SIM_HANG_SECONDS", environ):
        hang_seconds = _to_float(*picked)
        if problem := hang_seconds_problem(hang_seconds):
            raise SettingsError(f"{picked[1]}: {problem}, got {picked[0]!r}")

    seed = defaults.seed
    if picked := _pick(args.seed, "--seed", "SUPPLIER_SIM_SEED", environ):
        seed = _to_int(*picked)

    chaos = ChaosConfig(
        failure_rate=rates["failure_rate"],
        hang_rate=rates["hang_rate"],
        hang_seconds=hang_seconds,
        seed=seed,
    )
    return Settings(host=host, port=port, chaos=chaos)


def load_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    """Parse argv and the environment, exiting with status 2 and a message on bad values."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return resolve_settings(args, environ)
    except SettingsError as exc:
        parser.error(str(exc))
