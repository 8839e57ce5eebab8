"""Lost, unfinished and duplicated work: what the system recorded, against what left it.

What left it: the supplier simulator's ledger, the mails the filebased backend wrote and the
PDF files; what it recorded: both databases. Also the row count of a table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.client import get_json
from bench.harness.mails import read_messages
from bench.harness.system import Run


def count_rows(database_url: str, table: str) -> int:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
    return int(row[0]) if row else 0


def read_mails(mail_dir: Path) -> list[tuple[str, str]]:
    """(recipient, subject) of every message the filebased backend wrote."""
    return [
        (recipient.strip().lower(), str(message.get("Subject", "")))
        for message in read_messages(mail_dir)
        for recipient in str(message.get("To", "")).split(",")
    ]


@dataclass(frozen=True)
class Integrity:
    ledger: list[dict[str, Any]]  # the supplier's
    supplier_calls: dict[str, int]  # dispatch calls the simulator received, by outcome
    counts: dict[str, dict[str, int]]  # lost, unfinished, duplicated, and info


def check_integrity(
    run: Run,
    request_ids: Sequence[int],
    numbers: Sequence[str],
    supplier_url: str,
    *,
    renders: float = 0.0,
) -> Integrity:
    """Lost, unfinished and duplicated work, from what the system recorded and what left it.

    Lost: accepted and gone (no order), recorded as done without the evidence outside (no
    dispatch in the supplier's ledger, no mail, no PDF file), or unfinished with nothing left
    that will finish it (a shipment pending with no next attempt, a failed notification).
    Unfinished: still owed when the drain gave up, but scheduled (the sweep will come back).
    ``request_ids`` are the accepted order requests, ``numbers`` the orders placed for them,
    ``renders`` the workers' render count from their metrics (0: unknown).
    """
    from datetime import UTC, datetime

    from django.db import connections

    numbers = list(numbers)
    wanted = set(numbers)
    keys = [f"order-confirmation:{number}" for number in numbers]
    ledger: list[dict[str, Any]] = get_json(f"{supplier_url}/v1/ledger")["dispatches"]
    calls: list[dict[str, Any]] = get_json(f"{supplier_url}/_admin/requests")["requests"]
    supplier_calls = dict(
        Counter(
            str(r.get("outcome"))
            for r in calls
            if r.get("method") == "POST" and str(r.get("path", "")).startswith("/v1/dispatches")
        )
    )
    per_ref = Counter(str(d.get("order_ref")) for d in ledger if str(d.get("order_ref")) in wanted)
    per_key = Counter(str(d.get("idempotency_key")) for d in ledger if d.get("idempotency_key"))

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM monolithos_order")
        orders_in_db = int(cursor.fetchone()[0])
        cursor.execute(
            "SELECT o.number, lower(c.email), i.rendered_version IS NOT NULL, i.pdf "
            "FROM monolithos_order o JOIN monolithos_customer c ON c.id = o.customer_id "
            "LEFT JOIN monolithos_invoice i ON i.order_id = o.id WHERE o.number = ANY(%s)",
            [numbers],
        )
        orders = {row[0]: (row[1], bool(row[2]), row[3] or "") for row in cursor.fetchall()}
        cursor.execute(
            "SELECT idempotency_key, status FROM notifications_notification "
            "WHERE idempotency_key = ANY(%s)",
            [keys],
        )
        notification_rows = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM outbox_failedtask")
        failed_tasks = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM outbox_outboxmessage WHERE published_at IS NULL")
        unpublished = int(cursor.fetchone()[0])
    with connections["logistics"].cursor() as cursor:
        cursor.execute(
            "SELECT order_ref, status, attempt_count, next_attempt_at FROM logistics_shipment "
            "WHERE order_ref = ANY(%s)",
            [numbers],
        )
        shipment_rows = cursor.fetchall()
    shipments = {row[0]: row for row in shipment_rows}
    notifications = {key: status for key, status in notification_rows}

    mails = read_mails(run.mail_dir)
    prefix = f"herd-{run.run_id}-"
    to_customers = [(to, subject) for to, subject in mails if to.startswith(prefix)]
    mails_per_customer = Counter(to for to, _ in to_customers)
    identical = Counter(to_customers)
    pdfs = list(run.media_dir.rglob("*.pdf"))

    now = datetime.now(UTC)
    dispatched = {n for n, row in shipments.items() if row[1] == "dispatched"}
    pending = [row for n, row in shipments.items() if row[1] == "pending"]
    deferred = [row for row in pending if row[3] is not None]
    latest = max((row[3] for row in deferred), default=None)
    sent = {n for n in wanted if notifications.get(f"order-confirmation:{n}") == "sent"}
    rendered = {n for n, (_, done, _) in orders.items() if done}
    lost = {
        "requests accepted, not placed": len(request_ids) - len(numbers),
        "orders placed, missing from the database": len(wanted - orders.keys()),
        "dispatched, absent from the supplier's ledger": sum(
            1 for n in dispatched if not per_ref[n]
        ),
        "pending shipments with no next attempt": sum(
            1 for row in pending if row[3] is None and row[2] > 0
        ),
        "shipments in another state": sum(
            1 for row in shipments.values() if row[1] not in ("pending", "dispatched")
        ),
        "rendered, no PDF file": sum(
            1 for n in rendered if not (run.media_dir / orders[n][2]).is_file()
        ),
        "confirmations failed": sum(1 for status in notifications.values() if status == "failed"),
        "sent, no mail to the customer": sum(
            1 for n in sent if not mails_per_customer[orders[n][0]]
        ),
    }
    unfinished = {
        "shipments not created": len(wanted - shipments.keys()),
        "shipments pending, never tried": sum(
            1 for row in pending if row[3] is None and not row[2]
        ),
        "shipments pending, next attempt scheduled": len(deferred),
        "invoices not rendered": len(wanted - rendered),
        "confirmations not sent": len(wanted - sent),
        "outbox messages not published": unpublished,
    }
    duplicated = {
        "order requests answered twice": len(request_ids) - len(set(request_ids)),
        "orders placed twice": len(numbers) - len(wanted),
        "orders beyond those accepted": max(0, orders_in_db - len(wanted)),
        "orders dispatched twice at the supplier": sum(1 for c in per_ref.values() if c > 1),
        "supplier idempotency keys used twice": sum(1 for c in per_key.values() if c > 1),
        "orders with two shipments": len(shipment_rows) - len(shipments),
        "confirmation records twice": len(notification_rows) - len(notifications),
        "identical mails sent twice": sum(c - 1 for c in identical.values() if c > 1),
    }
    if renders:  # PDF names are deterministic (overwritten): count the renders themselves
        duplicated["invoices rendered more than once"] = max(0, int(renders) - len(rendered))
    info = {
        "supplier ledger entries": len(ledger),
        "mails to customers": len(to_customers),
        "mails in all": len(mails),
        "PDF files": len(pdfs),
        "failed tasks recorded": failed_tasks,
    }
    if latest is not None:
        info["last deferred shipment due in s"] = max(0, round((latest - now).total_seconds()))
    counts = {
        "lost": lost,
        "unfinished": unfinished,
        "duplicated": duplicated,
        "info": info,
    }
    return Integrity(ledger, supplier_calls, counts)
