"""Command-line entry point: `python -m supplier_sim [--port 8090 --failure-rate 0.5 ...]`."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from supplier_sim.config import load_settings
from supplier_sim.server import make_server


class _Stop(BaseException):
    """Raised from the signal handler to unwind serve_forever."""


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv, os.environ)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        server = make_server(settings.host, settings.port, settings.chaos)
    except OSError as exc:
        print(
            f"supplier_sim: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    chaos = settings.chaos
    # Port 0 asks the OS for a free port, so announce the one actually bound.
    port = server.server_address[1]
    print(
        f"supplier_sim listening on http://{settings.host}:{port} "
        f"(failure_rate={chaos.failure_rate} hang_rate={chaos.hang_rate} "
        f"hang_seconds={chaos.hang_seconds} seed={chaos.seed})",
        file=sys.stderr,
        flush=True,
    )
    # SIGINT is set explicitly because Python leaves it ignored when started as a background
    # job of a non-interactive shell, where Ctrl-C and `kill -INT` would then do nothing.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _on_stop_signal)
    try:
        server.serve_forever()
    except _Stop:
        pass
    finally:
        server.server_close()
    print("supplier_sim stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
