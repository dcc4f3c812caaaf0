"""Training and inference speed of the voice networks on this machine: the mel CNN beside speech
encoders (experiment=voice_ssl) with the encoder frozen (epochs before `unfreeze_at_epoch`) and
fine-tuned (after; the feature extractor stays frozen). Random weights: speed does not depend on them.

    uv run python bench/speech_encoder.py                              # WAVLM_BASE_PLUS, batch 8
    uv run python bench/speech_encoder.py --encoders WAVLM_BASE_PLUS WAVLM_LARGE --steps 3
    uv run python bench/speech_encoder.py --overrides 'model.net.arch={encoder_num_layers:2}'

Prints a table and appends it, with the date, machine, command and versions, to bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from record import RESULTS, append_results  # the script's folder is on sys.path

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def build(overrides: list[str]) -> tuple[torch.nn.Module, int]:
    """The experiment's LightningModule, and its clip length in samples."""
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return instantiate(cfg.model), int(cfg.data.clean.sample_rate * cfg.data.clean.clip_seconds)


def clips_per_s(model: torch.nn.Module, samples: int, batch: int, steps: int, train: bool) -> float:
    """One training step (front end, network, loss, backward, AdamW) or one inference pass, per clip."""
    wave = torch.randint(-8000, 8000, (batch, samples), dtype=torch.int16)
    y = torch.randint(0, len(model.class_names), (batch,))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        if train:
            optimizer.zero_grad()
            model._loss(model(wave), y).backward()
            optimizer.step()
        else:
            with torch.inference_mode():
                model(wave)

    model.train(train)
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["WAVLM_BASE_PLUS"], help="torchaudio bundle names")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--overrides", nargs="*", default=[], help="more Hydra overrides for the encoder runs")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the markdown file the table is appended to")
    args = parser.parse_args()
    lines = ["| network | parameters | trainable | train (clips/s) | inference (clips/s) |",
             "| --- | --- | --- | --- | --- |"]

    def row(name: str, model: torch.nn.Module, samples: int) -> None:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        train, infer = (clips_per_s(model, samples, args.batch, args.steps, t) for t in (True, False))
        lines.append(f"| {name} | {total / 1e6:.1f}M | {trainable / 1e6:.2f}M | {train:.1f} | {infer:.1f} |")
        print(lines[-1], flush=True)

    row("mel CNN (experiment=voice_mel)", *build(["experiment=voice_mel"]))
    for name in args.encoders:
        model, samples = build(["experiment=voice_ssl", f"model.net.name={name}", "model.net.pretrained=false",
                                "model.net.freeze_feature_extractor=true", *args.overrides])
        # pretrained=false trains the convolutions; freeze them as a pretrained run does
        model.net.feature_extractor.requires_grad_(False)
        model.net.encoder.requires_grad_(False)
        row(f"{name}, encoder frozen", model, samples)
        model.net.encoder.requires_grad_(True)
        row(f"{name}, fine-tuned", model, samples)
    table = "\n".join(lines)
    load = os.getloadavg()[0]  # other jobs on the machine slow every row alike
    append_results("Voice networks: mel CNN and speech encoders", table, args.results,
                   f"batch {args.batch} of 3-s clips, load average {load:.1f} at the end")


if __name__ == "__main__":
    main()
