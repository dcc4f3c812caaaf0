"""prepare.py: tasks of a distributed preparation build the store and the planned rows that training then only reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import open_dict

import voxray.data.store.build as build
import voxray.data.store.parts as parts
import voxray.data.voice.datamodule as voice
from tests.helpers.config import compose_cfg
from tests.helpers.voices import make_official_corpus
from voxray.cli.checks import check_prepare
from voxray.errors import UserError
from voxray.prepare import prepare


def test_two_tasks_build_the_store_and_training_only_opens_it(tmp_path: Path, caplog, monkeypatch) -> None:
    root = make_official_corpus(tmp_path / "cv")  # 37 usable clips: 3 parts of 16
    data = [f"data.root={root}", "data.prepare_workers=0", "data.clean.denoise=false", "data.part_size=16"]
    opened = []
    real = build.open_store
    monkeypatch.setattr(build, "open_store", lambda folder, *root: opened.append(folder) or real(folder, *root))
    for part in (0, 1):
        cfg = compose_cfg("prepare", tmp_path / f"prep{part}", tmp_path / "cache", [*data, f"part={part}", "of=2"])
        with caplog.at_level("INFO"):
            datamodule = prepare(cfg)
    assert len(opened) == 1, "the task that completes the store reads its manifest once"
    assert f"task 0 of 2: its parts are done in {datamodule.store_folder()}" in caplog.text
    assert "store complete: 37 rows, 0 files skipped" in caplog.text, "task 1 finished last and completed it"
    monkeypatch.setattr(parts, "load_files", lambda *a: pytest.fail("training prepared files again"))
    monkeypatch.setattr(voice, "read_common_voice", lambda *a: pytest.fail("training read the tables again"))
    train = instantiate(compose_cfg("train", tmp_path / "run", tmp_path / "cache", data).data)
    train.setup("fit")
    assert train.data.folder == datamodule.store_folder() and len(train.datasets["train"]) > 0


@pytest.mark.parametrize(("part", "of"), [(2, 2), (-1, 2), ("x", 2)])
def test_a_part_outside_its_tasks_is_one_line(tmp_path: Path, part: object, of: int) -> None:
    cfg = compose_cfg("prepare", tmp_path / "prep", tmp_path / "cache", ["of=2"])
    with open_dict(cfg):
        cfg.part = part
    with pytest.raises(UserError, match=r"part=.* must be a whole number from 0 to of-1=1"):
        check_prepare(cfg)
