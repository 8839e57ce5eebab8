"""The notification service: e-mail recorded in the caller's transaction, sent by a worker."""
