"""Synthetic chest radiographs in the Kermany "chest_xray" layout: the embedded default X-ray set.

The films come from `voxray.synth.radiograph.render_xray`; this module plans the corpus (patients,
classes, splits, a few RGB files) and writes it, in parallel and atomically.
"""

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from voxray.synth.radiograph import KINDS, render_xray

# Kermany's class balance: 1583 normal vs 4273 pneumonia images (27% / 73%), about two thirds of
# the pneumonia bacterial.
KIND_SHARES = (0.27, 0.73 * 2 / 3, 0.73 / 3)
TEST_SHARE = 0.15
VAL_PER_CLASS = 4  # the official val/ folder is tiny (8 + 8 images); keep that quirk
RGB_SHARE = 0.04  # a few real files are 3-channel JPEGs; both classes alike, so it is no cue
_VERSION = 1  # bump when the drawing (radiograph.py) changes, so an old corpus is not mistaken for a new one


@dataclass(frozen=True)
class _Film:
    """One image to write: where, what, and the RNG keys that make it reproducible."""

    path: Path
    kind: str
    patient: int
    index: int


def build_xray_corpus(
    out_dir: str | Path,
    n_patients: int = 300,
    size: int = 256,
    seed: int = 0,
    num_workers: int | None = None,
) -> Path:
    """Write a synthetic Kermany-layout corpus, or return at once if it is already complete.

    Writes out_dir/chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg with Kermany names
    (personN_bacteria_M.jpeg, personN_virus_M.jpeg, [NORMAL2-]IM-NNNN-000K.jpeg), 1-3 films per
    patient, about 15% of patients in test and a handful of films in val. Files are written
    atomically and an interrupted build resumes; `out_dir/.complete` (written last) records the
    parameters.

    Args:
        out_dir: output folder.
        n_patients: number of patients (default 300, about 510 films).
        size: nominal image side in pixels; each film's sides vary around it (default 256).
        seed: corpus seed (default 0).
        num_workers: processes; None = all cores, 0 = in this process.

    Returns:
        The dataset root, out_dir/chest_xray.
    """
    if n_patients < 2 or size < 32:
        raise ValueError(f"need n_patients >= 2 and size >= 32, got {n_patients} and {size}")
    out_dir = Path(out_dir)
    root, marker = out_dir / "chest_xray", out_dir / ".complete"
    params = {"n_patients": n_patients, "size": size, "seed": seed, "version": _VERSION}
    if marker.exists():
        built = json.loads(marker.read_text())
        if built != params:
            raise ValueError(f"{out_dir} holds a corpus built with {built}, not {params}; "
                             "delete it or choose another out_dir")
        return root
    todo = [film for film in _plan(root, n_patients, seed) if not film.path.exists()]
    write = partial(_write_film, size=size, seed=seed)
    with tqdm(total=len(todo), desc="synthetic X-rays", unit="img") as bar:
        if num_workers == 0:
            for film in todo:
                bar.update(write(film))
        else:
            with ProcessPoolExecutor(max_workers=num_workers or os.cpu_count()) as pool:
                for done in pool.map(write, todo, chunksize=8):
                    bar.update(done)
    _atomic_write(marker, lambda tmp: tmp.write_text(json.dumps(params)))
    return root


def _plan(root: Path, n_patients: int, seed: int) -> list[_Film]:
    """Assign every patient a kind, a film count, a split and Kermany-style file names."""
    rng = np.random.default_rng([seed, 0])
    kinds = rng.choice(len(KINDS), size=n_patients, p=KIND_SHARES)
    counts = rng.choice([1, 2, 3], size=n_patients, p=[0.5, 0.3, 0.2])
    split = np.full(n_patients, "train", dtype=object)
    for pneumonia in (False, True):  # stratify test and val by class
        members = rng.permutation(np.flatnonzero((kinds > 0) == pneumonia))
        n_test = round(TEST_SHARE * len(members))
        split[members[:n_test]] = "test"
        val = members[n_test : n_test + min(VAL_PER_CLASS, len(members) // 10)]
        split[val], counts[val] = "val", 1
    films, index, numbers = [], 0, {"bacteria": 0, "virus": 0}  # Kermany numbers per subtype
    for patient in range(n_patients):
        kind = KINDS[kinds[patient]]
        folder = root / split[patient] / ("NORMAL" if kind == "normal" else "PNEUMONIA")
        prefix = "NORMAL2-" if rng.random() < 0.4 else ""  # Kermany's second normal batch
        for k in range(1, counts[patient] + 1):
            if kind == "normal":
                name = f"{prefix}IM-{patient + 1:04d}-{k:04d}.jpeg"
            else:
                numbers[kind] += 1
                name = f"person{patient + 1}_{kind}_{numbers[kind]}.jpeg"
            films.append(_Film(folder / name, kind, patient, index))
            index += 1
    return films


def _write_film(film: _Film, size: int, seed: int) -> int:
    """Render one film and write it as JPEG atomically; returns 1 for the progress bar."""
    pixels = render_xray(film.kind, film.patient, film.index, size, seed)
    quality = np.random.default_rng([seed, 3, film.index])
    image = Image.fromarray(pixels)
    if quality.random() < RGB_SHARE:
        image = image.convert("RGB")
    save = partial(image.save, format="JPEG", quality=int(quality.integers(80, 96)))
    _atomic_write(film.path, save)
    return 1


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a hidden temporary sibling and rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when `write` failed
