"""Scoring a G: metrics as pure functions (metrics.py), the classifier behind the image metrics,
samplers (raw, drs), and evaluate.py, which picks the metric family a dataset names."""
