"""Cross-cutting observability: the trace id contract, structured logs, metrics and health probes.

Every app may import this package; it imports none of them (an import-linter contract).
"""
