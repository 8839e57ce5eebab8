"""The conventions every HTTP API of the project shares, whichever app serves it.

One error body (``errors``), strict input fields (``fields``), a JSON parser that never fails
with a 500 (``parsers``), JSON answers for what Django itself refuses under /api/ (``views``,
``middleware``), and token authentication that slows down guessing (``authentication``).
Infrastructure: it imports no app (an import-linter contract).
"""
