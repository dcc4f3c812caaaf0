"""Tests for the synthetic Common Voice corpus: layout, labels, determinism, resuming, acoustics."""

import csv
import os
import subprocess
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import find_peaks

from voxray.synth.voice import (
    AGE_GROUPS,
    COLUMNS,
    OTHER_GENDERS,
    assign_speakers,
    build_voice_corpus,
)
from voxray.synth.voice_source import record, sample_voice, speak

SR = 16000  # the tests use a lower rate than the default 32 kHz to stay fast
SMALL = dict(n_speakers=24, clips_per_speaker=(1, 2), sample_rate=SR)


def _read_tsv(folder: Path) -> pd.DataFrame:
    """Read validated.tsv the way Common Voice releases are read: tabs, no quoting, blanks kept."""
    return pd.read_csv(
        folder / "validated.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_voice_corpus(tmp_path_factory.mktemp("cv") / "en", seed=3, num_workers=1, **SMALL)


def test_tsv_has_official_layout_and_every_clip_decodes(corpus: Path) -> None:
    df = _read_tsv(corpus)
    assert tuple(df.columns) == COLUMNS
    assert len(df) >= 24 and df["path"].is_unique
    assert df["client_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert df["path"].str.fullmatch(r"common_voice_en_\d+\.mp3").all()
    assert df["sentence_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert (df["locale"] == "en").all()
    assert (df["up_votes"].astype(int) >= 2).all() and df["down_votes"].isin(["0", "1"]).all()
    assert set(df["age"]) <= set(AGE_GROUPS) | {""}
    assert set(df["gender"]) <= {"male_masculine", "female_feminine", *OTHER_GENDERS}
    for name in df["path"]:
        audio, sr = sf.read(corpus / "clips" / name)
        assert sr == SR and audio.ndim == 1
        assert 3.0 <= len(audio) / sr <= 7.0 and np.abs(audio).max() <= 1.0
    assert not list((corpus / "clips").glob(".*.part"))  # no temporary files left behind


def test_all_clips_of_a_client_share_labels(corpus: Path) -> None:
    df = _read_tsv(corpus)
    per_client = df.groupby("client_id")[["age", "gender", "accents"]].nunique()
    assert (per_client == 1).all().all()
    assert df["client_id"].nunique() == 24


def test_same_seed_same_bytes_any_worker_count(corpus: Path, tmp_path: Path) -> None:
    again = build_voice_corpus(tmp_path / "again", seed=3, num_workers=2, **SMALL)
    assert (again / "validated.tsv").read_bytes() == (corpus / "validated.tsv").read_bytes()
    for name in _read_tsv(corpus)["path"][:5]:
        a, _ = sf.read(corpus / "clips" / name)
        b, _ = sf.read(again / "clips" / name)
        np.testing.assert_array_equal(a, b)


def test_other_seed_differs(corpus: Path, tmp_path: Path) -> None:
    other = build_voice_corpus(tmp_path / "other", seed=4, num_workers=1, **SMALL)
    df, df_other = _read_tsv(corpus), _read_tsv(other)
    assert set(df["client_id"]).isdisjoint(df_other["client_id"])
    a, _ = sf.read(corpus / "clips" / df["path"][0])
    b, _ = sf.read(other / "clips" / df_other["path"][0])
    assert len(a) != len(b) or not np.array_equal(a, b)


def test_second_call_on_complete_folder_does_nothing(corpus: Path) -> None:
    files = [corpus / "validated.tsv", *sorted((corpus / "clips").iterdir())]
    before = [f.stat().st_mtime_ns for f in files]
    assert build_voice_corpus(corpus, seed=3, num_workers=1, **SMALL) == corpus
    assert [f.stat().st_mtime_ns for f in files] == before
    assert sorted((corpus / "clips").iterdir()) == files[1:]


def test_interrupted_build_resumes_to_the_same_corpus_and_drops_orphans(corpus: Path, tmp_path: Path) -> None:
    names = list(_read_tsv(corpus)["path"])
    partial = tmp_path / "partial"
    (partial / "clips").mkdir(parents=True)
    for name in names[1:]:  # as if the build stopped before the first clip and before the TSV
        (partial / "clips" / name).write_bytes((corpus / "clips" / name).read_bytes())
    kept = (partial / "clips" / names[1]).stat().st_mtime_ns
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: its pid now names no process
    dead = finished.pid
    orphan = partial / "clips" / f".{names[0]}.{dead}.part"  # the killed writer's half file
    orphan.write_bytes(b"half an mp3")
    live = partial / "clips" / f".{names[1]}.{os.getpid()}.part"  # a live concurrent builder's
    live.write_bytes(b"being written")
    build_voice_corpus(partial, seed=3, num_workers=1, **SMALL)
    assert not orphan.exists() and live.exists()
    assert (partial / "validated.tsv").read_bytes() == (corpus / "validated.tsv").read_bytes()
    assert (partial / "clips" / names[0]).read_bytes() == (corpus / "clips" / names[0]).read_bytes()
    assert (partial / "clips" / names[1]).stat().st_mtime_ns == kept


def test_bad_sample_rate_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        build_voice_corpus(tmp_path, sample_rate=12345)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_label_distribution_is_skewed_like_common_voice(seed: int) -> None:
    speakers = assign_speakers(240, seed)
    ages = Counter(s.age for s in speakers)
    genders = Counter(s.gender for s in speakers)
    assert all(ages[a] >= 8 for a in AGE_GROUPS[:6])
    assert ages["seventies"] >= 2 and ages["eighties"] >= 1
    assert ages["twenties"] > ages["thirties"] > ages["fourties"] > ages["sixties"]
    assert ages[""] > 0 and "fourties" in ages and "forties" not in ages
    assert 0.6 < genders["male_masculine"] / 240 < 0.7
    assert 0.28 < genders["female_feminine"] / 240 < 0.36
    assert set(OTHER_GENDERS) <= set(genders)  # blank and every other label occur
    for age_index in range(6):  # both sexes in every sizeable group: gender never stands in for age
        assert {s.voice_female for s in speakers if s.voice_age == age_index} == {False, True}


def _median_f0(y: np.ndarray) -> float:
    """Median YIN f0 (Hz) over the louder, voiced frames."""
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=SR, frame_length=1024, hop_length=256)
    rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=256)[0]
    return float(np.median(f0[rms > 0.3 * rms.max()]))


def _syllable_rate(y: np.ndarray) -> float:
    """Energy-envelope peaks per second of active speech: a rough syllable-nucleus rate."""
    hop = SR // 100
    db = 20 * np.log10(librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop)[0] + 1e-9)
    db = np.convolve(db, np.ones(3) / 3, "same")
    active = np.flatnonzero(db > db.max() - 30)
    peaks, _ = find_peaks(db, prominence=6)
    return len(peaks) / ((active[-1] - active[0]) * hop / SR)


def test_female_voices_are_higher_pitched() -> None:
    def median_f0(female: bool) -> float:
        f0 = []
        for k in range(5):  # five speakers spread over the age groups
            voice = sample_voice(k * 2, female, np.random.default_rng([k, female]))
            f0.append(_median_f0(speak(voice, 2.0, SR, np.random.default_rng(k))))
        return float(np.median(f0))

    assert median_f0(True) / median_f0(False) > 1.4


def test_older_speakers_talk_slower() -> None:
    def mean_rate(ages: tuple[int, ...]) -> float:
        rates = []
        for k in range(6):
            rng = np.random.default_rng([7, k, ages[0]])
            voice = sample_voice(ages[k % len(ages)], k % 2 == 0, rng)
            rates.append(_syllable_rate(speak(voice, 3.0, SR, rng)))
        return float(np.mean(rates))

    assert mean_rate((5, 6, 7)) < 0.85 * mean_rate((0, 1))  # sixties-eighties vs teens-twenties


def test_recording_has_silent_margins_and_is_in_range() -> None:
    for k in range(4):
        rng = np.random.default_rng(k)
        x = record(sample_voice(k, k % 2 == 1, rng), SR, rng)
        assert x.dtype == np.float32 and 3.0 <= len(x) / SR <= 7.0 and np.abs(x).max() <= 0.9
        edge = int(0.02 * SR)  # clicks stay 50 ms or more from either end: only noise here
        rms = np.sqrt(np.mean(x**2))
        assert np.sqrt(np.mean(x[:edge] ** 2)) < 0.2 * rms
        assert np.sqrt(np.mean(x[-edge:] ** 2)) < 0.2 * rms
