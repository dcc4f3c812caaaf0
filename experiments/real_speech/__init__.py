"""The real-speech check: the gender of real, unseen speakers, CNN against the hand-crafted baseline
(`uv run python -m experiments.real_speech --help`)."""
