"""`report.html` of a train or eval run folder (`build.write_report`), `summary.html` of a
multirun (`sweep_page.write_summary_page`)."""
