"""Is a folder given as `data.root` a Common Voice release? Checked before torch is imported, with
a message that says where the table is (below, or beside a release's clips/ folder) or what the
folder holds instead (a chest X-ray set, unlabelled clips)."""

from __future__ import annotations

import os
from pathlib import Path

from voxray.data.xray.root import xray_layout
from voxray.errors import CKPT_EXAMPLE, UserError

AUDIO_SUFFIXES = frozenset({".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a"})

VOICE_TABLES = ("validated.tsv", "train.tsv", "dev.tsv", "test.tsv",
                "cv-valid-train.csv", "cv-valid-dev.csv", "cv-valid-test.csv")


def check_voice_root(root: str) -> None:
    """A Common Voice table at `root`; otherwise the message says where the table is (below, or beside
    a release's clips/ folder) or what the folder holds instead (a chest X-ray set, unlabelled clips)."""
    path = Path(root).expanduser()
    what_to_do = ("point it at a Common Voice release (validated.tsv + clips/), "
                  "or leave data.root out for the embedded corpus")
    if not path.exists():
        raise UserError(f"data.root={root} does not exist; {what_to_do}")
    if path.is_file():
        raise UserError(f"data.root={root} is a file; pass the folder that holds it (data.root={path.parent})")
    if any((path / name).is_file() for name in VOICE_TABLES):
        return
    # a release unpacks to cv-corpus-<version>/<language>/: the table is often one or two levels down
    below = sorted({str(table.parent) for depth in ("*", "*/*") for name in VOICE_TABLES
                    for table in path.glob(f"{depth}/{name}")})
    if below:
        raise UserError(
            f"data.root={root} holds no Common Voice table, but {below[0]} does; pass data.root={below[0]}"
        )
    xray = xray_layout(path)
    if xray:
        raise UserError(f"data.root={root} holds a chest X-ray data set ({xray}), not voices; to train on it "
                        f"run experiment=xray_pneumonia data.root={root}")
    clips = sum(Path(name).suffix.lower() in AUDIO_SUFFIXES for _, _, names in os.walk(path) for name in names)
    beside = [path.parent / name for name in VOICE_TABLES if (path.parent / name).is_file()]
    if clips and beside:  # the release's clips/ folder
        raise UserError(f"data.root={root} holds clips, and the Common Voice table that labels them is in its "
                        f"parent ({beside[0]}); pass data.root={path.parent}")
    if clips:
        raise UserError(
            f"data.root={root} holds {clips} audio clips but no Common Voice table (validated.tsv, "
            f"train/dev/test.tsv or cv-valid-*.csv), so no labels to train on; to classify the clips "
            f"with a trained model run predict.py ckpt_path={CKPT_EXAMPLE} inputs=[{root}]"
        )
    raise UserError(
        f"data.root={root} holds no Common Voice table (validated.tsv, train/dev/test.tsv or "
        f"cv-valid-*.csv) and no audio; {what_to_do}"
    )
