"""What became of a round's orders, read from the system and from what left it.

An order counts as shipped when the supplier's ledger holds its dispatch (the simulator's own
record, not the order's columns), as invoiced when its invoice has a rendered version, as
mailed when its customer's confirmation is among the mails the filebased backend wrote. Work
done twice is counted the same way: two dispatches of one order in the ledger, two identical
mails, two orders for one customer address. Shared by the flake and herd rounds.
"""

from __future__ import annotations

import email.policy
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from bench.harness.mails import SEPARATOR

KINDS = ("placed", "shipped", "invoiced", "mailed")


@dataclass(frozen=True)
class Work:
    """The round's orders at one instant: how many of each kind of work is done, and twice."""

    orders: int  # accepted by the caller
    placed: int
    shipped: int
    invoiced: int
    mailed: int
    dispatched_twice: int
    mailed_twice: int
    placed_twice: int

    def done(self, kind: str) -> int:
        return int(getattr(self, kind))

    @property
    def drained(self) -> bool:
        return all(self.done(kind) >= self.orders for kind in KINDS)

    @property
    def lost(self) -> int:
        """Accepted orders some kind of work never reached (at the end of the wait)."""
        return max(self.orders - min(self.done(kind) for kind in KINDS), 0)

    @property
    def duplicated(self) -> int:
        return self.dispatched_twice + self.mailed_twice + self.placed_twice


def tally(
    numbers: Sequence[str],
    emails: Sequence[str],
    *,
    ledger: Sequence[dict[str, Any]],
    rendered: set[str],
    in_database: Counter[str],
    mails: Sequence[tuple[str, str]],
) -> Work:
    """The pure count: ``in_database`` is orders per customer address, ``mails`` (to, subject)."""
    wanted = set(numbers)
    per_ref = Counter(str(d.get("order_ref")) for d in ledger if str(d.get("order_ref")) in wanted)
    addresses = {email.lower() for email in emails}
    confirmations = Counter(
        (to, subject) for to, subject in mails if to in addresses and subject.startswith("Your ")
    )
    mailed = {subject.rsplit(" ", 1)[-1] for (_, subject) in confirmations} & wanted
    return Work(
        orders=len(wanted),
        placed=sum(1 for email in addresses if in_database[email]),
        shipped=len(per_ref),
        invoiced=len(rendered & wanted),
        mailed=len(mailed),
        dispatched_twice=sum(1 for count in per_ref.values() if count > 1),
        mailed_twice=sum(count - 1 for count in confirmations.values() if count > 1),
        placed_twice=sum(1 for email in addresses if in_database[email] > 1),
    )


class MailBox:
    """The mails in a directory as (recipient, subject), each file read again only once it grew.

    A round polls the mails every second while thousands arrive; parsing every file on every
    poll would spend the machine's CPU the drain is measured on. Headers only: the subject and
    the recipients are all that is counted.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[Path, tuple[int, list[tuple[str, str]]]] = {}

    def read(self) -> list[tuple[str, str]]:
        for path in sorted(self.directory.glob("*")):
            size = path.stat().st_size
            if self.files.get(path, (-1, []))[0] != size:
                self.files[path] = (size, list(_headers(path.read_bytes())))
        return [mail for _, mails in self.files.values() for mail in mails]


def _headers(raw: bytes) -> Iterator[tuple[str, str]]:
    for message in raw.split(SEPARATOR):
        if not message.strip():
            continue
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(message.strip(b"\n"))
        for recipient in str(headers.get("To", "")).split(","):
            yield recipient.strip().lower(), str(headers.get("Subject", ""))


_boxes: dict[Path, MailBox] = {}


def observe(
    numbers: Sequence[str],
    emails: Sequence[str],
    *,
    ledger: Sequence[dict[str, Any]],
    mail_dir: Path,
) -> Work:
    """The round's orders now, from both databases' owners, the ledger and the mail files."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT lower(c.email), count(o.id) FROM monolithos_customer c "
            "JOIN monolithos_order o ON o.customer_id = c.id "
            "WHERE lower(c.email) = ANY(%s) GROUP BY lower(c.email)",
            [[email.lower() for email in emails]],
        )
        in_database: Counter[str] = Counter({row[0]: int(row[1]) for row in cursor.fetchall()})
        cursor.execute(
            "SELECT o.number FROM monolithos_invoice i JOIN monolithos_order o "
            "ON o.id = i.order_id WHERE i.rendered_version IS NOT NULL AND o.number = ANY(%s)",
            [list(numbers)],
        )
        rendered = {row[0] for row in cursor.fetchall()}
    return tally(
        numbers,
        emails,
        ledger=ledger,
        rendered=rendered,
        in_database=in_database,
        mails=_boxes.setdefault(mail_dir, MailBox(mail_dir)).read(),
    )


def order_numbers(emails: Sequence[str]) -> list[str]:
    """The numbers of the orders these customers have, as the database holds them now."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT o.number FROM monolithos_order o JOIN monolithos_customer c "
            "ON c.id = o.customer_id WHERE lower(c.email) = ANY(%s)",
            [[email.lower() for email in emails]],
        )
        return [str(row[0]) for row in cursor.fetchall()]
