"""Quality thresholds per metric family and when a run first met each: ganlab.config.thresholds, where validate()
can check a config's stop_at against them (this name is where the results layer's callers look)."""

from ..config.thresholds import (
                                 GOOD,
                                 HEADLINE,
                                 THRESHOLDS,
                                 EarlyStop,
                                 Threshold,
                                 met_names,
                                 names_for,
                                 reached_at,
                                 resolve,
                                 thresholds_for,
)

__all__ = ["GOOD", "EarlyStop", "HEADLINE", "THRESHOLDS", "Threshold", "met_names", "names_for", "reached_at", "resolve",
           "thresholds_for"]
