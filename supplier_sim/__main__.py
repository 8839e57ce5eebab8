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
    """Raised from the SIGTERM handler to unwind serve_forever like Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
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
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        server.server_close()
    print("supplier_sim stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
