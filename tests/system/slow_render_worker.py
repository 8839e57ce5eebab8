"""A Celery worker whose first render of each invoice hangs, so a test can kill it mid-render.

For the system tests only. Each render writes ``render-<invoice number>-<pid>`` in
RENDER_MARKER_DIR as it starts; the first render of an invoice then sleeps for a minute, long
enough for the test to SIGKILL that pool process. The patch is applied before the pool forks,
so every pool process, including a replacement, inherits it. Arguments are the worker's.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from config.celery import app  # noqa: E402
from monolithos import invoicing  # noqa: E402

MARKERS = Path(os.environ["RENDER_MARKER_DIR"])
render = invoicing.render_invoice_pdf


def render_slowly_the_first_time(invoice: Any, **options: Any) -> bytes:
    first = not any(MARKERS.glob(f"render-{invoice.number}-*"))
    (MARKERS / f"render-{invoice.number}-{os.getpid()}").touch()
    if first:
        time.sleep(60)
    return render(invoice, **options)


invoicing.render_invoice_pdf = render_slowly_the_first_time
app.worker_main(["worker", *sys.argv[1:]])
