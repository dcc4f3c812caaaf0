"""What several test modules share: the composed config (config), voiced clips and Common Voice folders
(voices), DICOM files (dicom), callbacks added through the config (probes), the robustness tests'
preparation command (prepare), root scripts run as a user runs them (scripts), and report pages read
back (html)."""
