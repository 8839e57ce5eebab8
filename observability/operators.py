"""Who runs a management command, as the audit logs of the operators' commands name them."""

from __future__ import annotations

import getpass


def shell_actor() -> str:
    """The OS user, marked as a shell; ``shell`` where the user cannot be told (no passwd entry)."""
    try:
        return f"{getpass.getuser()} (shell)"
    except Exception:  # getpass raises OSError or KeyError, and more on odd platforms
        return "shell"
