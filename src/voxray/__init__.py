"""voxray: voice age/gender and chest X-ray classifiers (Lightning + Hydra)."""

from voxray.cli import precision as _precision  # noqa: F401 - registers ${voxray.precision:...} for the configs


def __getattr__(name: str) -> object:
    """`voxray.Predictor`, imported on first use: `import voxray` stays free of torch."""
    if name == "Predictor":
        from voxray.predict import Predictor

        return Predictor
    raise AttributeError(f"module 'voxray' has no attribute {name!r}")
