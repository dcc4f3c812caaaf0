"""The real-speech check's builder, pooling and fusion, on a fake Debian package: no network, no training."""

from __future__ import annotations

import io
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from experiments.real_speech.corpus import build
from experiments.real_speech.runs import commands, run, variant
from experiments.real_speech.scores import fused, pooled, results_table, seeds_table, versus
from experiments.real_speech.sources import Speaker, fetch_debs
from tests.helpers.voices import tone
from voxray.data.voice.commonvoice import read_common_voice
from voxray.synth.voice import COLUMNS

PACKAGE = "fake-voices"
CAP = 4
# Four women and four men; the last woman's prompts are headerless GSM, like asterisk-prompt-fr-armelle.
VOICES = [(f"w{i}", "female", 220.0 + 10 * i) for i in range(4)] + [(f"m{i}", "male", 110.0 + 10 * i) for i in range(4)]


def _ar(members: dict[str, bytes]) -> bytes:
    """An `ar` archive as dpkg writes one: 60-byte headers, members padded to even offsets."""
    out = b"!<arch>\n"
    for name, data in members.items():
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode() + data
        out += b"\n" * (len(data) % 2)
    return out


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _audio(f0: float, seconds: float, gsm: bool = False) -> bytes:
    buffer = io.BytesIO()
    if gsm:
        sf.write(buffer, tone(f0, seconds, sr=8000), 8000, format="RAW", subtype="GSM610")
    else:
        sf.write(buffer, tone(f0, seconds), 16000, format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, list[Path]]:
    """The fake package in a .deb cache, built into a corpus with two folds."""
    tmp = tmp_path_factory.mktemp("real_speech")
    files = {}
    for sid, _, f0 in VOICES:
        ext = "gsm" if sid == "w3" else "wav"
        files |= {f"usr/share/fake/{sid}/clip{j}.{ext}": _audio(f0, 1.0, ext == "gsm") for j in range(6)}
        files[f"usr/share/fake/{sid}/short.{ext}"] = _audio(f0, 0.2, ext == "gsm")  # under --min-speech
        files[f"usr/share/fake/{sid}/beep.{ext}"] = _audio(1000.0, 1.0, ext == "gsm")  # excluded: not speech
    deb = _ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar_xz({}), "data.tar.xz": _tar_xz(files)})
    (tmp / "debs").mkdir()
    (tmp / "debs" / f"{PACKAGE}_1.0_all.deb").write_bytes(deb)
    speakers = [Speaker(sid, gender, "xx", PACKAGE, (f"usr/share/fake/{sid}/*.*",), f"voice {sid}",
                        "usr/share/doc/fake/copyright:1", ("**/beep.*",)) for sid, gender, _ in VOICES]
    debs = fetch_debs([PACKAGE], tmp / "debs")  # found in the cache: apt-get is never called
    people, folds = build(speakers, debs, tmp / "corpus", k=2, seed=0, clips_per_speaker=CAP, f0_clips=0)
    return tmp / "corpus", people, folds


def test_the_table_lists_each_speakers_clips_with_the_credited_gender(corpus) -> None:
    root, people, _ = corpus
    table = pd.read_csv(root / "validated.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert list(table.columns) == list(COLUMNS) and (table["age"] == "").all()
    assert table.groupby("client_id").size().to_dict() == {sid: CAP for sid, _, _ in VOICES}
    labels = table.drop_duplicates("client_id").set_index("client_id")["gender"].to_dict()
    assert labels == {sid: f"{g}_{'feminine' if g == 'female' else 'masculine'}" for sid, g, _ in VOICES}
    assert all((root / "clips" / p).is_file() for p in table["path"])


def test_clips_are_speech_spread_over_the_sorted_files_and_gsm_becomes_wav(corpus) -> None:
    root, _, _ = corpus
    sources = pd.read_csv(root / "clip_sources.tsv", sep="\t")
    picked = sources[sources["client_id"] == "m0"]["source"].str.rsplit("/", n=1).str[-1]
    assert list(picked) == ["clip0.wav", "clip2.wav", "clip3.wav", "clip5.wav"]  # 4 of 6, ends included
    assert not sources["source"].str.contains("short|beep").any()
    gsm = sources[sources["client_id"] == "w3"]["path"]
    assert all(p.endswith(".wav") and sf.info(root / "clips" / p).samplerate == 8000 for p in gsm)


def test_folds_test_every_speaker_once_and_never_share_a_person(corpus) -> None:
    root, people, folds = corpus
    tested = []
    for fold in folds:
        split = {s: set(pd.read_csv(fold / f"{s}.tsv", sep="\t")["client_id"]) for s in ("train", "dev", "test")}
        assert not (split["train"] & split["dev"] or split["train"] & split["test"] or split["dev"] & split["test"])
        assert len(split["dev"]) == 2 and {sid[0] for sid in split["dev"]} == {"w", "m"}
        assert set.union(*split.values()) == {sid for sid, _, _ in VOICES}
        tested += sorted(split["test"])
    assert sorted(tested) == sorted(sid for sid, _, _ in VOICES)
    assert people.set_index("speaker")["fold"].to_dict() == {
        s: i for i, fold in enumerate(folds, start=1) for s in pd.read_csv(fold / "test.tsv", sep="\t")["client_id"]}


def test_the_project_reads_each_fold_with_its_official_splits(corpus) -> None:
    _, _, folds = corpus
    for fold in folds:
        table = read_common_voice(fold, use_official_splits=True)
        assert len(table) == len(VOICES) * CAP and set(table["split"]) == {"train", "val", "test"}
        assert table["path"].map(lambda p: Path(p).is_file() and Path(p).parent == fold / "clips").all()  # noqa: B023 - map() calls it at once
        assert (fold / "clips" / Path(table["path"][0]).name).stat().st_nlink >= 2  # a hard link, not a copy


def _predictions(path: Path, rows: list[tuple[str, str, float]]) -> Path:
    """A test_predictions.csv: (speaker, label, p(female)) per clip."""
    speaker, label, p_female = (list(column) for column in zip(*rows))
    pd.DataFrame({"path": [f"{s}_{i}.wav" for i, s in enumerate(speaker)], "speaker": speaker, "label": label,
                  "pred": ["female" if p >= 0.5 else "male" for p in p_female], "prob/female": p_female,
                  "prob/male": [1 - p for p in p_female]}).to_csv(path, index=False)
    return path


def test_pooling_counts_people_and_clips_over_all_folds(tmp_path: Path) -> None:
    # Fold 1: F1 8 clips, 6 right; M1 5 clips right. Fold 2: F2 2 clips, both wrong; M2 4 clips right.
    one = _predictions(tmp_path / "1.csv",
                       [("F1", "female", 0.9)] * 6 + [("F1", "female", 0.4)] * 2 + [("M1", "male", 0.2)] * 5)
    two = _predictions(tmp_path / "2.csv", [("F2", "female", 0.3)] * 2 + [("M2", "male", 0.1)] * 4)
    scores = pooled([one, two], n_boot=200)
    assert scores["clip_uar"] == pytest.approx((6 / 10 + 1) / 2)  # F1's many clips outweigh F2
    assert scores["speaker_uar"] == pytest.approx((1 / 2 + 1) / 2)  # one of two women is missed
    assert (scores["speakers"], scores["clips"]) == (4, 19)
    assert scores["own_class"]["F2"] == pytest.approx(0.3)  # the speaker-level p(female) of both clips at 0.3
    lo, hi = scores["speaker_ci"]
    assert lo <= scores["speaker_uar"] <= hi
    with pytest.raises(ValueError, match="more than one fold"):
        pooled([one, one])


def test_reuse_keeps_only_predictions_written_after_the_corpus_by_the_same_overrides(tmp_path: Path) -> None:
    run_dir, now = tmp_path / "cnn" / "fold1", time.time()
    job = tmp_path / "job.py"  # writes what a Hydra run leaves: its overrides and the predictions
    job.write_text("import pathlib, sys; p = pathlib.Path(sys.argv[-1].split('=', 1)[1]); "
                   "(p / '.hydra').mkdir(parents=True, exist_ok=True); (p / 'test_predictions.csv').write_text('new'); "
                   "(p / '.hydra' / 'overrides.yaml').write_text(''.join(f'- {a}\\n' for a in sys.argv[1:-1]))")
    cmd = [sys.executable, str(job), "seed=1", f"hydra.run.dir={run_dir}"]
    run_dir.mkdir(parents=True)
    (run_dir / "test_predictions.csv").write_text("from other folds")
    assert run(cmd, run_dir, reuse_after=now + 60).read_text() == "new"  # older than the corpus: run again
    (run_dir / "test_predictions.csv").write_text("reused")
    assert run(cmd, run_dir, reuse_after=now - 60).read_text() == "reused"
    other = [*cmd[:2], "seed=2", cmd[-1]]
    assert run(other, run_dir, reuse_after=now - 60).read_text() == "new"  # another variant's overrides: run again


def test_variants_are_named_override_lists() -> None:
    assert variant('a=model.augment=null "data.batch_size=32"') == ("a", ["model.augment=null", "data.batch_size=32"])
    assert variant("cnn=") == ("cnn", [])
    with pytest.raises(Exception, match="NAME="):
        variant("baseline=x")


def test_a_variant_trains_with_its_own_seed_on_the_same_folds() -> None:
    """Hydra keeps an override's last value: the folds' seed must come before the variant's."""
    runs = commands([("cnn", []), ("seed1", variant("seed1=seed=1 trainer.max_epochs=2")[1])], "default", 42)
    last_seed = {name: [a for a in cmd if a.startswith("seed=")][-1] for name, cmd in runs.items()}
    assert last_seed == {"cnn": "seed=42", "seed1": "seed=1", "baseline": "seed=42"}


def test_a_variant_is_compared_with_the_baseline_clip_by_clip(tmp_path: Path) -> None:
    rows = [("F1", "female", 0.9)] * 3 + [("F2", "female", 0.8)] * 3 + [("M1", "male", 0.1)] * 3 \
        + [("M2", "male", 0.2)] * 3
    cnn = _predictions(tmp_path / "cnn.csv", rows)
    base = _predictions(tmp_path / "base.csv", [(s, g, 0.4) if s == "F2" else (s, g, p) for s, g, p in rows])
    shuffled = pd.read_csv(base).sample(frac=1, random_state=0)  # row order must not matter: clips are matched
    shuffled.to_csv(base, index=False)
    gap = versus([cnn], [base], n_boot=200)
    assert gap["speaker"] == pytest.approx(0.25) and gap["clip"] == pytest.approx(0.25)  # F2 recovered
    pd.read_csv(base).iloc[1:].to_csv(base, index=False)
    with pytest.raises(ValueError, match="only one of the two"):
        versus([cnn], [base])


def test_fusion_averages_the_two_models_log_probabilities_clip_by_clip(tmp_path: Path) -> None:
    rows = [("F1", "female", 0.9)] * 2 + [("F2", "female", 0.4)] * 2 + [("M1", "male", 0.1)] * 2
    cnn = _predictions(tmp_path / "cnn.csv", rows)  # F2 missed
    base = _predictions(tmp_path / "base.csv", [(s, g, 0.9 if s == "F2" else 0.5) for s, g, _ in rows])
    (out,) = fused([[cnn], [base]], tmp_path / "fused")
    table = pd.read_csv(out).set_index("speaker")
    # sqrt(0.4 * 0.9) = 0.6 against sqrt(0.6 * 0.1) = 0.245: F2 is recovered, at 0.6 / 0.845
    assert table.loc["F2", "prob/female"].tolist() == pytest.approx([0.6 / (0.6 + 0.06 ** 0.5)] * 2)
    assert table.loc["F2", "pred"].tolist() == ["female"] * 2
    # an undecided baseline (0.5) leaves the CNN's decision and moves its confidence halfway, in log-odds
    assert table.loc["M1", "prob/male"].tolist() == pytest.approx([0.75] * 2)
    assert pooled([out], n_boot=50)["speaker_uar"] == 1.0
    # three models: the geometric mean of all three; row order does not matter (clips are matched)
    pd.read_csv(base).sample(frac=1, random_state=0).to_csv(tmp_path / "shuffled.csv", index=False)
    (three,) = fused([[cnn], [base], [tmp_path / "shuffled.csv"]], tmp_path / "three")
    f2 = pd.read_csv(three).set_index("speaker").loc["F2", "prob/female"].tolist()
    assert f2 == pytest.approx([(0.4 * 0.81) ** (1 / 3) / ((0.4 * 0.81) ** (1 / 3) + (0.6 * 0.01) ** (1 / 3))] * 2)
    pd.read_csv(base).iloc[1:].to_csv(base, index=False)
    with pytest.raises(ValueError, match="fold 1: 1 clips are tested by only one"):
        fused([[cnn], [base]], tmp_path / "fused")


def test_training_seeds_name_one_run_each_and_are_summed_up_per_variant(tmp_path: Path) -> None:
    runs = commands([("cnn", []), ("un", ["model.frontend.utterance_norm=true"])], "default", 42, [42, 1])
    last_seed = {name: [a for a in cmd if a.startswith("seed=")][-1] for name, cmd in runs.items()}
    assert last_seed == {"cnn": "seed=42", "cnn_seed1": "seed=1", "un": "seed=42", "un_seed1": "seed=1",
                         "baseline": "seed=42"}
    assert runs["un_seed1"][-1] == "model.frontend.utterance_norm=true"
    f1, f2 = [("F1", "female", 0.9)] * 2, [("F2", "female", 0.9)] * 2
    men = [("M1", "male", 0.1), ("M2", "male", 0.1)] * 2
    csvs = {"baseline": _predictions(tmp_path / "b.csv", f1 + f2 + men),
            "cnn": _predictions(tmp_path / "c.csv", f1 + f2 + men),  # 4 of 4 right
            "cnn_seed1": _predictions(tmp_path / "c1.csv", f1 + [("F2", "female", 0.2)] * 2 + men)}  # F2 missed
    scores = {name: pooled([csv], n_boot=50) for name, csv in csvs.items()}
    for name in ("cnn", "cnn_seed1"):
        scores[name]["vs_baseline"] = versus([csvs[name]], [csvs["baseline"]], n_boot=50)
    row = seeds_table(scores, {"cnn": ["cnn", "cnn_seed1"]}).splitlines()[2]
    # speaker UAR 1.0 and 0.75 (F2 missed): mean 0.875; gaps 0 and -0.25; people right 4 and 3
    assert row == "| cnn | 2 | 0.875 (0.750–1.000) | 0.875 (0.750–1.000) | -0.125 | -0.125 | 4, 3 of 4 |"


def test_an_undefined_interval_is_written_as_such_not_a_crash() -> None:
    """metrics.json writes an interval resting on one speaker of a class as null (`ci_undefined`)."""
    scores = {"cnn": {"clip_uar": 0.8, "clip_ci": [0.7, 0.9], "speaker_uar": 0.75, "speaker_ci": None,
                      "speakers": 3, "clips": 30,
                      "vs_baseline": {"clip": 0.05, "clip_ci95": [-0.1, 0.2], "speaker": 0.0, "speaker_ci95": None}}}
    row = results_table(scores).splitlines()[-1]
    assert row == ("| cnn | 0.800 [0.700, 0.900] | 0.750 [undefined] | +0.050 [-0.100, +0.200] | +0.000 [undefined] "
                   "| 3 | 30 |")


def test_a_variant_may_name_its_own_experiment() -> None:
    runs = commands([("cnn", []), ("ssl", ["experiment=voice_gender_ssl", "model.net.source=DIR"])], "default", 42)
    experiments = {name: [a for a in cmd if a.startswith("experiment=")] for name, cmd in runs.items()}
    assert experiments == {"cnn": ["experiment=voice_gender"], "ssl": ["experiment=voice_gender_ssl"],
                           "baseline": []}
    assert runs["ssl"][-1] == "model.net.source=DIR"
