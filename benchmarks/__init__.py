"""Benchmarks and the fault-injection soak (`make bench`, `make soak`); see benchmarks/README.md."""
