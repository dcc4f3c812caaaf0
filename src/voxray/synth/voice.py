"""The embedded default voice data set: a synthetic corpus in the official Common Voice layout.

`build_voice_corpus` writes `validated.tsv` and `clips/*.mp3` exactly as a Common Voice release
lays them out, so the real reading and preparation code runs on it unchanged. Labels follow the
release's skew (mostly twenties and thirties, two thirds male, a few withheld or other labels, a
share with a gender but no age), clip counts its long tail, and each contributor records through
their own channel (`channel`); the audio comes from the source-filter synthesiser in `voice_source`.
"""

import hashlib
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from voxray.synth.channel import Channel, sample_channel
from voxray.synth.voice_source import Voice, record, sample_voice

log = logging.getLogger(__name__)

AGE_GROUPS: tuple[str, ...] = (
    "teens", "twenties", "thirties", "fourties", "fifties",
    "sixties", "seventies", "eighties", "nineties",
)  # fmt: skip
# Shares of speakers per age group, close to Common Voice English ("fourties" is its spelling).
AGE_SHARES: tuple[float, ...] = (0.12, 0.30, 0.22, 0.14, 0.10, 0.07, 0.03, 0.015, 0.005)
FEMALE_SHARE = 0.33
OTHER_GENDERS: tuple[str, ...] = ("", "intersex", "transgender", "non-binary", "do_not_wish_to_say")
WITHHELD_SHARE = 0.03  # of speakers with a blank/other gender label (and the default blank-age share)
COLUMNS: tuple[str, ...] = (
    "client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
    "age", "gender", "accents", "variant", "locale", "segment",
)  # fmt: skip
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # what MPEG audio allows
_ACCENTS = (
    "United States English", "England English", "Canadian English", "Australian English",
    "India and South Asia (India, Pakistan, Sri Lanka)", "Scottish English", "Irish English",
)  # fmt: skip
_SYLLABLES = (
    "ka", "lo", "mi", "ren", "to", "sa", "vel", "du", "ni", "mor", "pa", "ti", "bel", "go", "ra",
)  # fmt: skip

# Independent random streams, keyed so that one speaker's or clip's draws never depend on another's.
_STREAM_LABELS, _STREAM_SPEAKER, _STREAM_CLIP, _STREAM_TEXT, _STREAM_NAMES, _STREAM_CHANNEL, _STREAM_COUNTS = range(7)


@dataclass(frozen=True)
class Speaker:
    """One synthetic contributor: labels as written in the TSV, and the voice behind them."""

    index: int
    client_id: str
    age: str  # TSV label; "" when withheld
    gender: str  # TSV label: male_masculine, female_feminine, or a blank/other label
    voice_age: int  # age group index the voice is synthesised as (also when the label is withheld)
    voice_female: bool


def _largest_remainder(shares: tuple[float, ...], total: int) -> np.ndarray:
    """Integer counts proportional to shares that sum exactly to total."""
    raw = np.asarray(shares) / sum(shares) * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(counts - raw, kind="stable")[: total - counts.sum()]] += 1
    return counts


def assign_speakers(n_speakers: int, seed: int = 0, blank_age_share: float = WITHHELD_SHARE) -> list[Speaker]:
    """Deterministic labels for n_speakers contributors, with Common Voice's class imbalance.

    Age counts are exact shares of AGE_SHARES; within each age group a third are female, so every
    group large enough has both sexes. About WITHHELD_SHARE of speakers get a blank or other gender
    label and about blank_age_share a blank age (many Common Voice clips have a gender but no
    age), while their voices still have an age and a sex.
    """
    rng = np.random.default_rng([seed, _STREAM_LABELS])
    ages = np.repeat(np.arange(len(AGE_GROUPS)), _largest_remainder(AGE_SHARES, n_speakers))
    female = np.concatenate([np.arange(k) < round(k * FEMALE_SHARE) for k in np.bincount(ages)])
    order = rng.permutation(n_speakers)
    ages, female = ages[order], female[order]
    n_withheld = round(WITHHELD_SHARE * n_speakers)
    # Cycle through a shuffled OTHER_GENDERS so that a few withheld speakers already cover them all.
    labels = np.resize(rng.permutation(len(OTHER_GENDERS)), n_withheld)
    other_gender = dict(zip(rng.permutation(n_speakers)[:n_withheld].tolist(), labels.tolist()))
    blank_age = set(rng.permutation(n_speakers)[: round(blank_age_share * n_speakers)].tolist())
    speakers = []
    for i in range(n_speakers):
        gender = "female_feminine" if female[i] else "male_masculine"
        if i in other_gender:
            gender = OTHER_GENDERS[other_gender[i]]
        speakers.append(
            Speaker(
                index=i,
                client_id=hashlib.sha256(f"voxray-synth-voice:{seed}:{i}".encode()).hexdigest(),
                age="" if i in blank_age else AGE_GROUPS[ages[i]],
                gender=gender,
                voice_age=int(ages[i]),
                voice_female=bool(female[i]),
            )
        )
    return speakers


def _sentence(rng: np.random.Generator) -> str:
    """A short made-up sentence of nonsense words, without tabs or quotes."""
    n_words = rng.integers(3, 9)
    words = ["".join(rng.choice(_SYLLABLES, size=rng.integers(1, 4))) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def _write_clip(job: tuple[Path, Voice, Channel | None, int, int, int, int]) -> None:
    """Synthesise and write one clip unless a complete file is already there (resumed build)."""
    path, voice, channel, seed, speaker, clip, sr = job
    if path.exists():
        return
    audio = record(voice, sr, np.random.default_rng([seed, _STREAM_CLIP, speaker, clip]), channel)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")  # concurrent builders never share it
    sf.write(tmp, audio, sr, format="MP3")
    os.replace(tmp, path)


def _remove_orphans(folder: Path) -> int:
    """Delete `.<clip>.<pid>.part` files whose writer has died (a killed build); return how many.

    Files of a live process are kept: a concurrent builder of the same corpus may be writing them.
    """
    removed = 0
    for tmp in folder.glob(".*.part"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def clip_counts(n_speakers: int, lo: int, hi: int, tail: float, rng: np.random.Generator) -> np.ndarray:
    """Clips per speaker in lo..hi with P(k) ~ k^-tail: 0 is uniform; Common Voice's long tail
    (most contributors record a few clips, a few record very many) is near 1.8."""
    k = np.arange(lo, hi + 1)
    p = k ** -float(tail)
    return rng.choice(k, size=n_speakers, p=p / p.sum())


def build_voice_corpus(
    out_dir: str | Path,
    n_speakers: int = 240,
    clips_per_speaker: tuple[int, int] = (4, 12),
    clips_tail: float = 0.0,
    blank_age_share: float = WITHHELD_SHARE,
    speaker_channels: bool = True,
    sample_rate: int = 32000,
    seed: int = 0,
    num_workers: int | None = None,
) -> Path:
    """Write a synthetic Common Voice corpus (validated.tsv + clips/*.mp3) into out_dir; return it.

    Idempotent and atomic: a folder with validated.tsv is complete and is returned untouched;
    clips are written under temporary names, so an interrupted build resumes where it stopped.
    The same seed gives byte-identical validated.tsv and identical audio for any num_workers.

    Args:
        out_dir: target folder, created if missing.
        n_speakers: number of contributors (default 240).
        clips_per_speaker: inclusive (min, max) clips per contributor (default (4, 12)).
        clips_tail: exponent of the clip-count distribution, P(k) ~ k^-clips_tail (0 = uniform).
        blank_age_share: share of contributors whose age is blank (they keep their gender).
        speaker_channels: each contributor records all their clips through one channel (device,
            room, noise, level: speaker and channel confounded, as in Common Voice); False draws a
            channel per clip.
        sample_rate: MP3 sample rate in Hz, one of MP3_RATES (default 32000).
        seed: seed of every random draw (default 0).
        num_workers: worker processes; None uses os.cpu_count(), 1 runs in this process.
    """
    out_dir = Path(out_dir)
    tsv = out_dir / "validated.tsv"
    if tsv.exists():
        return out_dir
    if sample_rate not in MP3_RATES:
        raise ValueError(f"sample_rate must be one of {MP3_RATES}, got {sample_rate}")
    lo, hi = clips_per_speaker
    if not 1 <= lo <= hi:
        raise ValueError(
            f"clips_per_speaker must be (min, max) with 1 <= min <= max, got {clips_per_speaker}"
        )
    if clips_tail < 0 or not 0 <= blank_age_share <= 1:
        raise ValueError(f"need clips_tail >= 0 and 0 <= blank_age_share <= 1, got {clips_tail}, {blank_age_share}")
    clips_dir = out_dir / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)

    counts = clip_counts(n_speakers, lo, hi, clips_tail, np.random.default_rng([seed, _STREAM_COUNTS]))
    clips = []  # (speaker, voice, channel, accent, clip index) in recording order
    for spk, count in zip(assign_speakers(n_speakers, seed, blank_age_share), counts):
        rng = np.random.default_rng([seed, _STREAM_SPEAKER, spk.index])
        voice = sample_voice(spk.voice_age, spk.voice_female, rng)
        accent = str(rng.choice(_ACCENTS)) if rng.random() < 0.4 else ""
        stream = np.random.default_rng([seed, _STREAM_CHANNEL, spk.index])
        channel = sample_channel(stream) if speaker_channels else None
        clips += [(spk, voice, channel, accent, clip) for clip in range(int(count))]

    # Release-style file numbers: distinct, rising in recording order, unrelated to the TSV order.
    names = np.random.default_rng([seed, _STREAM_NAMES])
    numbers = 17_000_000 + np.cumsum(names.integers(1, 2000, size=len(clips)))
    rows, tasks = [], []
    for (spk, voice, channel, accent, clip), number in zip(clips, numbers):
        path = f"common_voice_en_{number}.mp3"
        text = np.random.default_rng([seed, _STREAM_TEXT, spk.index, clip])
        sentence = _sentence(text)
        rows.append((
            spk.client_id, path, hashlib.sha256(sentence.encode()).hexdigest(), sentence, "",
            str(text.integers(2, 6)), str(int(text.random() < 0.15)),
            spk.age, spk.gender, accent, "", "en", "",
        ))  # fmt: skip
        tasks.append((clips_dir / path, voice, channel, seed, spk.index, clip, sample_rate))

    workers = num_workers or os.cpu_count() or 1
    progress = tqdm(total=len(tasks), desc="synthetic Common Voice", unit="clip")
    if workers == 1:
        for task in tasks:
            _write_clip(task)
            progress.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(_write_clip, tasks, chunksize=8):
                progress.update()
    progress.close()
    if removed := _remove_orphans(clips_dir):
        log.info("removed %d unfinished clip files left by a killed build", removed)

    table = [COLUMNS] + [rows[i] for i in names.permutation(len(rows))]
    tmp = tsv.with_name(f".{tsv.name}.{os.getpid()}.part")
    tmp.write_text("".join("\t".join(r) + "\n" for r in table), encoding="utf-8")
    os.replace(tmp, tsv)
    return out_dir
