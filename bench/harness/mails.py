"""The mails a running system wrote with Django's filebased backend, one message at a time.

The backend writes every message of one connection to one file, named by the second it opened
and the backend's id: two mails sent by one process within a second share a file. Counting files
undercounts; count the messages. Shared by the system tests and the benchmarks.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

# What the filebased backend writes after each message.
SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def read_messages(mail_dir: Path) -> list[EmailMessage]:
    """Every message in ``mail_dir``, oldest file first."""
    messages: list[EmailMessage] = []
    for path in sorted(mail_dir.glob("*")):
        for raw in path.read_bytes().split(SEPARATOR):
            if raw.strip():
                message = email.message_from_bytes(raw.strip(b"\n"), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                messages.append(message)
    return messages


def message_text(message: EmailMessage) -> str:
    """Its headers and every text part, decoded: what a reader of the mail sees."""
    parts = [str(message)]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(str(part.get_content()))
    return "\n".join(parts)
