"""Benchmarks: ratios against a baseline measured in the same process (machines are noisy)."""
