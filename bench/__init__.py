"""Benchmarks of the etcd deploy on the end-to-end test bed (``python -m bench.benchmark``)."""
