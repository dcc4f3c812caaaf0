"""voxray: voice age/gender and chest X-ray classifiers (Lightning + Hydra)."""

from voxray.cli import precision as _precision  # noqa: F401 - registers ${voxray.precision:...} for the configs
