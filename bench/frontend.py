"""The log-mel front end: torchaudio on the training device against librosa on every CPU core.

    uv run python bench/frontend.py                          # batches 1 ... 1024, on cuda if present
    uv run python bench/frontend.py --batches 1 16 --min-seconds 0.2

3-s clips/s at each batch size. torchaudio runs `LogMel` of `experiment=voice_mel` on int16 batches
already on the device (int16 -> float -> mel -> dB); librosa runs `melspectrogram` + `power_to_db`
with the same settings in a pool of one process per core, each clip on one core, as a DataLoader's
workers would. Prints a table and appends it to bench/results.md.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import librosa
import numpy as np
import torch

from common import compose_model, cores, figure, load_line, parser, rate_for
from record import append_results  # the script's folder is on sys.path

RATE, SECONDS = 16000, 3.0
_clips: np.ndarray | None = None  # each pool worker's own copy of the clips, made once
_settings: dict = {}


def _clips_for(n: int) -> np.ndarray:
    """(n, 48000) int16 noise clips, the same in every process (the content does not change the cost)."""
    return np.random.default_rng(0).integers(-8000, 8000, (n, int(RATE * SECONDS)), dtype=np.int16)


def _start_worker(n: int, settings: dict) -> None:
    global _clips, _settings
    _clips, _settings = _clips_for(n), settings


def librosa_logmel(wave: np.ndarray, settings: dict) -> np.ndarray:
    """One int16 clip -> (n_mels, T) dB, as `voxray.features.logmel.LogMel` computes it."""
    power = librosa.feature.melspectrogram(y=wave.astype(np.float32) / 32768.0, sr=RATE, power=2.0, **settings)
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=80.0)


def _librosa_range(start: int, stop: int) -> int:
    for i in range(start, stop):
        librosa_logmel(_clips[i], _settings)
    return stop - start


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024])
    p.add_argument("--min-seconds", type=float, default=2.0, help="each figure times at least this long")
    p.add_argument("--workers", type=int, default=cores(), help="librosa processes (default: every core)")
    args = p.parse_args()
    device = torch.device(args.device)
    model, cfg = compose_model("voice_mel")
    logmel = model.frontend.logmel.to(device).eval()
    lm = cfg.model.frontend.logmel
    settings = dict(n_fft=lm.n_fft, win_length=lm.win_length, hop_length=lm.hop_length, n_mels=lm.n_mels,
                    fmin=lm.f_min, fmax=RATE / 2, center=True, pad_mode="reflect", htk=False, norm="slaney")
    biggest = max(args.batches)
    clips = torch.from_numpy(_clips_for(biggest)).to(device)  # (B, L) int16 on the device

    # the same clip through both: the front end must compute what librosa does
    ours = logmel(clips[:1].float() / 32768.0)[0, 0].cpu().numpy()
    diff = float(np.abs(ours - librosa_logmel(clips[0].cpu().numpy(), settings)).max())

    lines = ["| batch | torchaudio on " + device.type + " (clips/s) | librosa, "
             f"{args.workers} processes (clips/s) | ratio |", "| --- | --- | --- | --- |"]
    with ProcessPoolExecutor(args.workers, initializer=_start_worker, initargs=(biggest, settings)) as pool:
        for batch in args.batches:
            def ours_run(b: int = batch) -> int:
                with torch.inference_mode():
                    logmel(clips[:b].float() / 32768.0)  # (b, 1, n_mels, T)
                return b

            def theirs_run(b: int = batch) -> int:
                bounds = np.linspace(0, b, min(args.workers, b) + 1).astype(int)
                return sum(pool.map(_librosa_range, bounds[:-1], bounds[1:]))

            fast = rate_for(ours_run, args.min_seconds, device)
            slow = rate_for(theirs_run, args.min_seconds, torch.device("cpu"))
            lines.append(f"| {batch} | {figure(fast)} | {figure(slow)} | {fast / slow:,.1f}x |")
    lines += ["", f"3-s clips at {RATE} Hz, {lm.n_mels} mel bands, hop {lm.hop_length}; the two agree to "
              f"{diff:.2g} dB on the same clip; {load_line()}."]
    table = "\n".join(lines)
    print(table)
    append_results("Log-mel front end", table, args.results, f"librosa {librosa.__version__}")


if __name__ == "__main__":
    main()
