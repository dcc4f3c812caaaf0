"""A frozen hub encoder, side by side: building its cache (clips/s, one clip at a time as the
cache does), and a training epoch of the head from the cache against the same epoch from audio
(the frozen encoder run on every clip of every epoch).

    uv run python bench/encoder_cache.py --source openai/whisper-base          # or a local folder
    uv run python bench/encoder_cache.py --source DIR --clips 32 --epoch-clips 1000

Clips are random noise with `--speech` seconds of signal in 3-s rows (the cost of an encoder
follows the speech's length, not the row's). Prints a table and appends it, with the date,
machine, command and versions, to bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from voxray.models.hub_encoder import HubEncoderClassifier

from record import RESULTS, append_results  # the script's folder is on sys.path


def rate(step, clips: int, repeats: int) -> float:
    """Clips per second of `step()` (which handles `clips` clips), after one warm-up call."""
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return repeats * clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="openai/whisper-base", help="a hub id or a local folder")
    parser.add_argument("--clips", type=int, default=16, help="clips per measurement")
    parser.add_argument("--speech", type=float, default=1.5, help="seconds of speech per 3-s clip")
    parser.add_argument("--batch", type=int, default=64, help="the head's training batch (data.batch_size)")
    parser.add_argument("--epoch-clips", type=int, default=10_000, help="training clips per epoch, for epoch seconds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the markdown file the table is appended to")
    args = parser.parse_args()
    net = HubEncoderClassifier(2, args.source, freeze_encoder=True).to(args.device).train()
    n = int(args.speech * 16000)
    wave = torch.zeros(args.clips, 48000, device=args.device)
    wave[:, :n] = 0.1 * torch.randn(args.clips, n, device=args.device)
    with torch.inference_mode():
        pooled = net.encoder.embed(wave[: args.batch])
    features = pooled[torch.arange(args.batch) % len(pooled)].clone()  # (batch, N, 2D)
    y = torch.arange(args.batch, device=args.device) % 2
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3)

    def train_step(x: torch.Tensor) -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y[: len(x)]).backward()
        optimizer.step()

    def build() -> None:
        with torch.inference_mode():
            for clip in wave:
                net.encoder.embed(clip[None])

    cache = rate(build, args.clips, 1)
    from_cache = rate(lambda: train_step(features), args.batch, 20)
    from_audio = rate(lambda: train_step(wave), args.clips, 1)
    lines = ["| step | clips/s | one epoch of {:,} clips | vs from audio |".format(args.epoch_clips),
             "| --- | --- | --- | --- |",
             f"| build the cache (once) | {cache:.1f} | {args.epoch_clips / cache:.0f} s | |",
             f"| train the head from the cache | {from_cache:,.1f} | {args.epoch_clips / from_cache:.2f} s | "
             f"{from_cache / from_audio:,.1f}x |",
             f"| train the head from audio (encoder each epoch) | {from_audio:.2f} | "
             f"{args.epoch_clips / from_audio:.0f} s | 1x |"]
    table = "\n".join(lines)
    print(table)
    load = os.getloadavg()[0]
    append_results("A frozen hub encoder: its cache against audio", table, args.results,
                   f"{args.source}, {args.speech} s of speech per clip, load average {load:.1f} at the end")


if __name__ == "__main__":
    main()
