"""Speed benchmarks: seed-style reference loops (reference.py) to compare with ganlab's engine."""
