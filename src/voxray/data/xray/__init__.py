"""Chest X-ray data: folder layouts and manifests (layouts), decoding a film (images), patient splits
and leakage checks (splits), and the X-ray DataModule (datamodule)."""

from voxray.data.xray.root import check_xray_root as check_root

__all__ = ["check_root"]


def __getattr__(name: str) -> type:
    # checkpoints and conf/data/xray.yaml name voxray.data.xray.XrayDataModule; imported on first use,
    # so that the layout detection the CLI's checks run loads without torch
    if name == "XrayDataModule":
        from voxray.data.xray.datamodule import XrayDataModule

        return XrayDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
