"""What the benchmarks and the system tests share to run the system: one harness, no copies.

- ``processes``: processes in sessions of their own, stopped with their children; CPU seconds;
  free ports; waiting for a URL or a condition;
- ``system``: databases and broker, ``manage.py``, the argv of gunicorn and the supplier
  simulator, the Celery workers' layout, a run's environment and the whole system's start-up;
- ``client``: the raw HTTP herd client (N requests written at one instant) and its latencies;
- ``mails``: the mails the filebased backend wrote;
- ``integrity``: lost, unfinished and duplicated work, from the databases and what left them;
- ``report``: report lines, and what the processes logged and measured.

The scenarios (bench/herd.py, bench/intake_cost.py, bench/bossfight.py and bench/fight/) and
tests/system/ import it; it imports none of them, nor anything of tests/.
"""
