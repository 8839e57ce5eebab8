"""The cost floor for accepting a request: a bare DRF endpoint inserting one row (bench/herd.py)."""
