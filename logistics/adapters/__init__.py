"""Adapters: the real implementations of the logistics ports (Django ORM, HTTP, email, clock)."""
