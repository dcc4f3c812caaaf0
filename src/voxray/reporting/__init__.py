"""What a run writes for people to read: metrics.json and confusion matrices (metrics_file),
test_predictions.csv (predictions), TensorBoard figures, Grad-CAM overlays, and the shared figure
style (plots). report.html is built from these by `voxray.html_report`."""
