"""Benchmarks of the engine: latency, throughput, API load, scaling and memory (`make bench`)."""
