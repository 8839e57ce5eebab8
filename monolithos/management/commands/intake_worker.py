"""manage.py intake_worker: place accepted order requests (ORDER_INTAKE_HAND_OVER=claimed).

Thin: SIGTERM and SIGINT ask ``monolithos.intake_worker.work`` to stop after its batch;
``--until-idle`` places what is waiting and exits (a one-off catch-up, the tests).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from monolithos import intake_worker


class Command(BaseCommand):
    help = "Claim received order requests in batches and place them, until SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--until-idle", action="store_true", help="exit once no request is waiting"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        processed = intake_worker.work(stopping=stopping, until_idle=options["until_idle"])
        self.stdout.write(f"intake_worker: {processed} order request(s) processed")
