"""Training throughput of one network fed three ways, side by side in one process.

    uv run python bench/train_throughput.py --task voice     # clips/s, experiment=voice_mel
    uv run python bench/train_throughput.py --task xray      # images/s, experiment=xray_pneumonia
    uv run python bench/train_throughput.py --task voice --batch 64 256 1024   # which batch fills the GPU

(a) this project's pipeline: the prepared cache (int16 clips / uint8 images, memory-mapped) read one
    batch per call by DataLoader workers, copied to the device, front end (log-mel / augmentation) there.
(b) the usual way: DataLoader workers decode real files the benchmark writes (MP3 with
    `librosa.load` + `melspectrogram`; JPEG with a torchvision `ImageFolder` and PIL transforms),
    the network alone on the device.
(c) the ceiling: the model (front end and network) on one batch already on the device.
Each figure is a steady state: examples per optimizer step over `--steps` steps after `--warmup`.
Prints a table and appends it to bench/results.md.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import librosa
import numpy as np
import torch
import torchvision
from torch.utils.data import DataLoader, Dataset, RandomSampler

from voxray.cli.precision import best_precision
from voxray.data.dataset import ArrayDataset, as_batch

from common import compose_model, cores, figure, load_line, parser, steady_rate, write_audio, write_films
from record import append_results  # the script's folder is on sys.path

TASKS = {"voice": ("voice_mel", "clips"), "xray": ("xray_pneumonia", "images")}


class MelFiles(Dataset):
    """The usual way for voice: decode and resample with librosa, log-mel (and the pitch rows, where
    the model takes them) on the worker's CPU."""

    def __init__(self, paths: list[str], labels: np.ndarray, rate: int, length: int, mel: dict,
                 pitch: torch.nn.Module | None = None) -> None:
        self.paths, self.labels, self.rate, self.length, self.mel = paths, labels, rate, length, mel
        self.pitch = pitch

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        wave, _ = librosa.load(self.paths[i], sr=self.rate)
        wave = librosa.util.fix_length(wave, size=self.length)
        power = librosa.feature.melspectrogram(y=wave, sr=self.rate, **self.mel)
        image = torch.from_numpy(librosa.power_to_db(power, ref=np.max, top_db=80.0)).unsqueeze(0)  # (1, n_mels, T)
        if self.pitch is not None:
            with torch.no_grad():
                image = torch.cat([image, self.pitch(torch.from_numpy(wave)[None])[0]], dim=1)  # + (1, n_bins, T)
        return image, int(self.labels[i])


def usual_images(root: Path, frontend: torch.nn.Module) -> torchvision.datasets.ImageFolder:
    """The usual way for X-ray: ImageFolder + PIL transforms as close as they come to `XrayFrontEnd`'s."""
    T = torchvision.transforms
    size = frontend.crop_size
    return torchvision.datasets.ImageFolder(root, transform=T.Compose([
        T.Grayscale(frontend.in_chans),
        T.RandomResizedCrop(size, scale=tuple(frontend.scale)),
        T.RandomAffine(frontend.rotate_deg, translate=(frontend.translate, frontend.translate)),
        T.ColorJitter(brightness=frontend.brightness, contrast=frontend.contrast),
        T.ToTensor(),
        T.Normalize(frontend.mean.flatten().tolist(), frontend.std.flatten().tolist()),
    ]))


def batches(dataset: Dataset, batch: int, n: int, workers: int, device: torch.device,
            collate: Callable | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`n` random examples in batches on `device`, read by `workers` processes."""
    loader = DataLoader(dataset, batch_size=batch, sampler=RandomSampler(dataset, replacement=True, num_samples=n),
                        num_workers=workers, collate_fn=collate, pin_memory=device.type == "cuda", drop_last=True)
    for x, y, *_ in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def trainer_step(model: torch.nn.Module, forward: Callable, feed: Iterator, precision: str,
                 device: torch.device) -> Callable[[], int]:
    """One optimizer step on the next batch of `feed`: forward under autocast (bf16-mixed), loss, backward."""
    optimizer = model.optimizer_fn(params=model.parameters())

    def step() -> int:
        x, y = next(feed)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            logits = forward(x)
        model._loss(logits, y).backward()
        optimizer.step()
        return len(y)

    return step


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--task", choices=sorted(TASKS), default="voice")
    p.add_argument("--batch", type=int, nargs="+", default=None, help="batch sizes (default: the data config's)")
    p.add_argument("--steps", type=int, default=50, help="optimizer steps timed per figure")
    p.add_argument("--warmup", type=int, default=5, help="steps run first and not timed")
    p.add_argument("--files", type=int, default=1024, help="files written for (b) and rows in the cache for (a)")
    p.add_argument("--workers", type=int, default=cores(), help="DataLoader workers of (a) and (b) (every core)")
    p.add_argument("--source-px", type=int, default=1024, help="X-ray files' width (Kermany's are 1-2k px)")
    p.add_argument("--precision", choices=["32-true", "bf16-mixed"], default=None,
                   help="default: what train.py picks on this device (voxray.cli.precision)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (callbacks.compile)")
    p.add_argument("--set", nargs="*", default=[], help="Hydra overrides of the model, e.g. model.net.channels=[4,8]")
    args = p.parse_args()
    device = torch.device(args.device)
    precision = args.precision or ("bf16-mixed" if best_precision(device.type) == "bf16-mixed" else "32-true")
    experiment, unit = TASKS[args.task]
    overrides = ["model.net.pretrained=false"] if args.task == "xray" else []
    model, cfg = compose_model(experiment, [*overrides, *args.set])
    model = model.to(device).train()
    if device.type == "cuda":  # what the default trainer and callbacks do there
        torch.backends.cudnn.benchmark = True
        model.net.to(memory_format=torch.channels_last)
    if args.compile:
        model.net.compile()
    k = len(model.class_names)
    labels = np.arange(args.files) % k
    lines = [f"| batch | (a) cache → {device.type} (/s) | (b) usual way (/s) | (c) ceiling (/s) | (a)/(b) | (a)/(c) |",
             "| --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.task == "voice":
            rate, length = cfg.data.clean.sample_rate, int(cfg.data.clean.sample_rate * cfg.data.clean.clip_seconds)
            cache = np.random.default_rng(0).integers(-8000, 8000, (args.files, length), dtype=np.int16)
            lm = cfg.model.frontend.logmel
            mel = dict(n_fft=lm.n_fft, win_length=lm.win_length, hop_length=lm.hop_length, n_mels=lm.n_mels,
                       fmin=lm.f_min)
            pitch = copy.deepcopy(model.frontend.pitch).cpu() if model.frontend.pitch is not None else None
            usual = MelFiles(write_audio(folder / "clips", args.files), labels, rate, length, mel, pitch)
        else:
            side = cfg.data.image_size
            cache = np.random.default_rng(0).integers(0, 255, (args.files, side, side), dtype=np.uint8)
            write_films(folder / "films", args.files, args.source_px)
            usual = usual_images(folder / "films", model.frontend)
        np.save(folder / "data.npy", cache)
        data = np.load(folder / "data.npy", mmap_mode="r")
        ours = ArrayDataset(data, np.arange(args.files), labels, labels.astype(str))
        for batch in args.batch or [cfg.data.batch_size]:
            n = batch * (args.warmup + args.steps)
            y = torch.arange(batch, device=device) % k
            x = torch.from_numpy(np.array(data[:batch])).to(device)
            ceiling = iter(lambda: (x, y), None)  # noqa: B023 - the same ready batch forever, read in this iteration
            rates = []
            for fwd, feed in ((model, batches(ours, batch, n, args.workers, device, as_batch)),
                              (model.net, batches(usual, batch, n, args.workers, device)),
                              (model, ceiling)):
                rates.append(steady_rate(trainer_step(model, fwd, feed, precision, device), args.warmup,
                                         args.steps, device))
                if hasattr(feed, "close"):
                    feed.close()  # stops its workers, whose prefetching would slow the next feed
            a, b, c = rates
            lines.append(f"| {batch} | {figure(a)} | {figure(b)} | {figure(c)} | {a / b:,.1f}x | {a / c:.2f} |")
    lines += ["", f"{unit}/s per optimizer step, `{' '.join([f'experiment={experiment}', *args.set])}`, {precision}"
              f"{', compiled' if args.compile else ''}, {args.workers} DataLoader workers, "
              f"{args.warmup} warm-up + {args.steps} timed steps; {load_line()}."]
    table = "\n".join(lines)
    print(table)
    append_results(f"Training throughput, {args.task}", table, args.results,
                   f"torchvision {torchvision.__version__}, librosa {librosa.__version__}")


if __name__ == "__main__":
    main()
