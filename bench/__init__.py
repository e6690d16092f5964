"""Benchmarks and the bulk filler they (and the exactly-once tests) share."""
