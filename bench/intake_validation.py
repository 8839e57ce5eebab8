"""What validating and rendering POST /api/v1/orders/ costs the web process, in one run.

bench/intake_cost.py measures the whole request under a herd, where a part of a few hundred
microseconds is within the run-to-run noise. This one measures the parts alone, in one process,
interleaved in ``--blocks`` alternating blocks of ``--calls`` calls each (medians of the blocks):

- the body validated by ``OrderAcceptApi.InputSerializer`` (as every request was before
  docs/adr/0025's sixth lever), its payload copied out as the view did;
- the body read by ``monolithos.new_order.read`` (a valid body's path now);
- the 202's body rendered by DRF's ``JSONRenderer`` (the bound on what a faster renderer such
  as orjson could save).

Target: the read costs at most a tenth of the serializer's validation (PASS or MISS). No
database or service: the serializer and the reader touch none.

    .venv/bin/python bench/intake_validation.py
    .venv/bin/python bench/intake_validation.py --blocks 40 --calls 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SHARE = 0.1  # the read's cost over the serializer's

BODY: dict[str, Any] = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": "12 Analytical Row\nLondon",
    "lines": [{"sku": "BOX-S", "quantity": 2}, {"sku": "MUG-1", "quantity": 1}],
}
ANSWER: dict[str, Any] = {
    "id": 1234,
    "status": "received",
    "customer_email": "ada@example.com",
    "lines": BODY["lines"],
    "order": None,
    "rejection": None,
    "links": {"self": "/api/v1/orders/requests/1234/"},
}


def parts() -> dict[str, Callable[[], object]]:
    from rest_framework.renderers import JSONRenderer

    from monolithos import new_order
    from monolithos.api import OrderAcceptApi

    def serializer() -> object:
        validating = OrderAcceptApi.InputSerializer(data=BODY)
        validating.is_valid(raise_exception=True)
        payload = dict(validating.validated_data)
        payload["lines"] = [dict(line) for line in payload["lines"]]
        return payload

    renderer = JSONRenderer()
    if new_order.read(BODY) != serializer():
        raise SystemExit("the read and the serializer disagree on the benchmark's body")
    return {
        "InputSerializer.is_valid": serializer,
        "new_order.read": lambda: new_order.read(BODY),
        "JSONRenderer, the 202's body": lambda: renderer.render(ANSWER, "application/json", {}),
    }


def per_call_us(part: Callable[[], object], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        part()
    return (time.perf_counter() - started) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--blocks", type=int, default=20, help="alternating blocks (20)")
    parser.add_argument("--calls", type=int, default=1000, help="calls per block (1000)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("MONOLITHOS_VAR_DIR", tempfile.mkdtemp(prefix="intake-validation-"))
    import django

    django.setup()
    measured = parts()
    samples: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(args.blocks):
        for name, part in measured.items():
            samples[name].append(per_call_us(part, args.calls))
    medians = {name: statistics.median(values) for name, values in samples.items()}

    print(
        f"intake validation: {args.blocks} blocks of {args.calls} calls, interleaved; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    for name, median in medians.items():
        print(f"  {name:<32} {median:9.1f} us per call (median of the blocks)")
    share = medians["new_order.read"] / medians["InputSerializer.is_valid"]
    saved = medians["InputSerializer.is_valid"] - medians["new_order.read"]
    print(f"  saved per valid body: {saved:.1f} us")
    verdict = "PASS" if share <= TARGET_SHARE else "MISS"
    print(f"  read / serializer: {share:.3f} (at most {TARGET_SHARE}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
