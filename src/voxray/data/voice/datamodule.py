"""The voice DataModule: Common Voice (or the embedded synthetic corpus) -> 3-s int16 clips."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import torch

from voxray.data.cache import cache_key
from voxray.data.datamodule import ArrayDataModule
from voxray.data.dataset import Plan
from voxray.data.splits import first_label_split, group_split
from voxray.data.voice.audio import CleanParams, load_clip
from voxray.data.voice.commonvoice import apply_label_map, apply_label_maps, read_common_voice

TARGETS = ("age", "gender")
# Part of the cache key: bump it whenever `load_clip`'s output changes, so that no cache prepared
# by older code is reused (the file list and CleanParams are in the key already).
CLIP_PREPARATION = "load_clip-v2"
# Part of a saved plan's key: bump it whenever `plan()`'s table changes for the same inputs.
PLAN_VERSION = "1"


class VoiceDataModule(ArrayDataModule):
    """Voice clips labelled by age group or gender, split speaker-disjointly.

    Args:
        root: Common Voice folder; None builds the embedded synthetic corpus in the cache.
        target: "age" or "gender"; a list (`[age, gender]`) for a joint model, whose labels are
            (n, n_tasks) with -1 where a clip lacks one, and whose clips need any one label.
        labels: per target, `classes` (ordered names) and `map` (raw Common Voice label -> class
            name); unmapped labels are excluded and counted in the data report.
        classes: the class names of `target` (the config interpolates them from `labels`); for a
            list of targets a mapping target -> class names.
        clean: `CleanParams` fields (sample_rate, clip_seconds, denoise, trim_top_db, min_seconds).
        use_official_splits: use the dataset's train/dev/test files when present.
        val_fraction, test_fraction, seed: the speaker-disjoint split when there are no split
            files (the seed also orders training batches).
        **kwargs: `ArrayDataModule` arguments (cache_dir, report_dir, batch_size, num_workers,
            synthetic: `build_voice_corpus` arguments for the embedded corpus).
    """

    # one channel per speaker, long tail, blank ages; noise drawn at an FFT-friendly length
    synthetic_version = "3-fast-noise"

    def __init__(
        self,
        root: str | None,
        target: str | Sequence[str],
        labels: Mapping[str, Mapping],
        classes: Sequence[str] | Mapping[str, Sequence[str]],
        clean: Mapping,
        use_official_splits: bool = True,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(root=root, classes=classes, seed=seed, **kwargs)
        targets = [target] if isinstance(target, str) else list(target)
        if not targets or any(t not in TARGETS for t in targets) or len(set(targets)) < len(targets):
            raise ValueError(f"data.target must be one of {TARGETS} or a list of them, got {target!r}")
        self.target = target if isinstance(target, str) else targets
        expected = {t: list(labels[t]["classes"]) for t in targets}
        given = ({t: list(c) for t, c in classes.items()} if isinstance(classes, Mapping)
                 else {targets[0]: list(classes)})
        if isinstance(target, str) == isinstance(classes, Mapping) or given != expected:
            raise ValueError(f"data.classes {given} differ from the classes of data.target={target}: {expected}")
        self.label_maps = {t: dict(labels[t]["map"]) for t in TARGETS}
        self.clean = CleanParams(**clean)
        self.use_official_splits = use_official_splits
        self.val_fraction, self.test_fraction = val_fraction, test_fraction

    def build_synthetic(self, folder: Path) -> Path:
        from voxray.synth.voice import build_voice_corpus  # only needed without a data root

        return build_voice_corpus(folder, num_workers=self.num_workers or None, **self.synthetic)

    def loader(self) -> partial:
        return partial(load_clip, params=self.clean)

    def example_input(self, batch: int = 2) -> torch.Tensor:
        """int16 clips; row i holds (i + 1) / batch of the clip, zero-padded after it as the cache pads short speech."""
        n = self.clean.length
        waves = torch.randint(-8000, 8000, (batch, n), dtype=torch.int16)
        speech = torch.arange(n) < torch.arange(1, batch + 1)[:, None] * n // batch  # (batch, n)
        return waves * speech

    def preparation(self) -> dict:
        clean = self.clean
        return {
            "decode": "any rate and channel count, mixed to mono float",
            "sample_rate": clean.sample_rate, "max_seconds": clean.max_seconds,
            "denoise": "noisereduce, non-stationary" if clean.denoise else None,
            "trim_top_db": clean.trim_top_db, "min_seconds": clean.min_seconds,
            "clip_seconds": clean.clip_seconds,
            "crop": "the centre clip_seconds of the trimmed clip; a shorter one zero-padded at the end "
                    "(the graph takes the speech to end at the last non-zero sample)",
            "scale": "peak-normalised to 0.89 (-1 dBFS), then int16",
        }

    def plan_key(self) -> str:
        """The settings that shape `plan()`'s table, and the size and time of the tables it reads."""
        root = self.corpus_root().resolve()
        tables = sorted([*root.glob("*.tsv"), *root.glob("cv-valid-*.csv")])
        stats = [(t.name, t.stat().st_size, t.stat().st_mtime_ns) for t in tables]
        return cache_key(str(root), stats, self.target, self.label_maps, self.classes, self.use_official_splits,
                         self.val_fraction, self.test_fraction, self.seed, self.clean.as_dict(), CLIP_PREPARATION,
                         PLAN_VERSION)

    def plan(self) -> Plan:
        root = self.corpus_root()
        raw = read_common_voice(root, self.use_official_splits)
        # Prepare every clip usable by either target, so age and gender runs share one cache.
        usable = raw["age"].isin(self.label_maps["age"]) | raw["gender"].isin(self.label_maps["gender"])
        if self.tasks:
            maps = {t: (self.label_maps[t], self.classes[t]) for t in self.tasks}
            table, label_report = apply_label_maps(raw, maps)
        else:
            table, label_report = apply_label_map(raw, self.target, self.label_maps[self.target], self.classes)
        table["group"] = table["client_id"]
        if (table["split"] == "").any():
            if self.tasks:  # the same speakers as a run on the first target alone (age where present)
                labels = table[[f"label/{t}" for t in self.tasks]]
                table["split"] = first_label_split(
                    labels, table["group"], self.val_fraction, self.test_fraction, self.seed
                )
            else:
                table["split"] = group_split(
                    table["label"], table["group"], self.val_fraction, self.test_fraction, self.seed
                )
        report = {
            "root": str(root),
            "target": self.target,
            "clips_listed": len(raw),
            "clips_usable_for_any_target": int(usable.sum()),
            **raw.attrs.get("report", {}),
            **label_report,
        }
        return Plan(
            table=table,
            load=self.loader(),
            shape=(self.clean.length,),
            dtype="int16",
            key_parts=[self.clean.as_dict(), {"loader": CLIP_PREPARATION}],
            group_name="speaker",
            report=report,
            files=raw.loc[usable, "path"].tolist(),
            root=Path(os.path.abspath(root)),  # as read_common_voice joins the clip paths to it
        )
