"""Honest evaluation of the radar's signals: walk-forward outcomes, bootstrap intervals, calibrated models,
anomalies, and the fan-out of per-asset work over Dask."""
