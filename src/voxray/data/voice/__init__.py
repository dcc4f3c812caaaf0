"""Voice data: Common Voice tables (commonvoice), decoding and cleaning a clip (audio), and the voice
DataModule (datamodule)."""

AUDIO_SUFFIXES = frozenset({".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a"})



def check_root(root: str) -> None:
    """Refuse, in one line that says what to pass, a `data.root` this DataModule cannot read."""
    from voxray.data.voice.root import check_voice_root

    check_voice_root(root)


def __getattr__(name: str) -> type:
    # checkpoints and conf/data/voice.yaml name voxray.data.voice.VoiceDataModule; imported on first use,
    # so that AUDIO_SUFFIXES and the modules beside it load without torch (the CLI's checks read them)
    if name == "VoiceDataModule":
        from voxray.data.voice.datamodule import VoiceDataModule

        return VoiceDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
