"""A stand-in for the third-party Supplier Protocol API, run as its own HTTP process.

It exists so the monolith can be exercised against a supplier that fails, hangs and replays
idempotent requests the way real suppliers do, deterministically when given a seed. It is a
third party on purpose: it imports nothing from the project and speaks only HTTP.
"""
