"""Voice data: Common Voice tables (commonvoice), decoding and cleaning a clip (audio), and the voice
DataModule (datamodule)."""

from voxray.data.voice.root import AUDIO_SUFFIXES
from voxray.data.voice.root import check_voice_root as check_root

__all__ = ["AUDIO_SUFFIXES", "check_root"]


def __getattr__(name: str) -> type:
    # checkpoints and conf/data/voice.yaml name voxray.data.voice.VoiceDataModule; imported on first use,
    # so that AUDIO_SUFFIXES and the modules beside it load without torch (the CLI's checks read them)
    if name == "VoiceDataModule":
        from voxray.data.voice.datamodule import VoiceDataModule

        return VoiceDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
