"""Benchmarks for evio (run as ``python -m benchmarks.<name>`` from the repository root)."""
