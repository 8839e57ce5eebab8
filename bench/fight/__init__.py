"""The boss fight: the modernization's phases replayed as rounds, each with its verdict.

``bench/bossfight.py`` is the one entry point. A round is a module here that measures one
phase's attack and defense and returns a ``RoundResult`` (``outcome``); ``report`` turns the
results into a self-contained HTML file and a Markdown summary. The tangle round reads code only:
the working tree, and the repository's first commit (``source_tree``) for the system as
inherited, both measured by the same functions (``complexity``, ``imports``, ``inventory``).
Imports the project's apps only where a round runs them (``injection``).
"""
