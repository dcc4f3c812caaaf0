"""The Hydra shell of the root scripts: preflight checks and override typos (before torch loads), the
resolvers the configs use (precision, --help's groups), the multirun summary, and the run's log set-up."""
