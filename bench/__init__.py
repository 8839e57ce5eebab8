"""Load benchmarks that drive a running Monolithos over HTTP; see bench/README.md."""
