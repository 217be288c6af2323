"""tests/soak imports the soak driver from benchmarks/ (the repository root is on sys.path under pytest)."""
