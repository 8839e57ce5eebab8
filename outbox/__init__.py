"""The reliable hand-off from a database transaction to the Celery workers.

On the way in, a transactional outbox: a writer records the task it wants run in the same
transaction as the data the task needs (``outbox.messages.publish``); a relay task, enqueued when
the transaction commits and backed by a periodic sweep, publishes it to the broker. On the way
out, a redelivery cap and a table of tasks that failed for good (Redis has no dead-letter
queue). This package is infrastructure: it imports none of the project's apps
(docs/adr/0009-transactional-outbox.md).
"""
