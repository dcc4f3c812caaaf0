"""Studies that run the project's own commands and report on them, each with its results file; run one
from the project folder as a module: `uv run python -m experiments.<name>`."""
