"""The statistics a run is judged by: metrics, bootstrap intervals, the decision rule, speaker-level
scores and paired comparisons. Numbers only: no files, no figures."""
