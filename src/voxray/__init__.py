"""voxray: voice age/gender and chest X-ray classifiers (Lightning + Hydra)."""

from voxray.cli import precision as _precision  # registers ${voxray.precision:...} for the configs
