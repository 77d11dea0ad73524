"""Benchmarks of pix2gan (scripts; ``python -m bench`` runs bench/run.py)."""
