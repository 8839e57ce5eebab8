"""The strangler facade: per-route traffic modes, shadow comparisons, the kill switch, the panel.

A strangled route has a legacy handler and a new one with the same contract; the facade picks
one per request from the route's mode (``legacy``, ``shadow``, ``canary`` with a sticky
percentage, ``new``) unless the kill switch sends everything to legacy. Modes live in the
database, audited, and reach every process through a version key in the cache
(docs/adr/0016-strangler-facade.md); so does the data ownership phase of the shipping data
(``strangler.phases``), whose meaning the database router says (docs/adr/0022).

This package knows routes and view callables and nothing of any app: it imports no app
(``observability`` aside, the cross-cutting infrastructure), and no app imports it; only the
root URLconf registers views with it (import-linter contracts in pyproject.toml).
"""
