"""Benchmarks of Agora's hot paths on a generated demo data set (see bench/README.md)."""
