"""A new user's first hour: a mistake is one line within seconds; a run logs one line per epoch."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.helpers.config import compose_train
from tests.helpers.scripts import FAST_SECONDS, run
from voxray.cli.checks import check_accelerator, check_train
from voxray.errors import UserError


def test_the_scripts_import_no_torch_before_checking() -> None:
    """What runs before the checks: the overrides' check, the checks, and Hydra's callback (multirun summary)."""
    code = ("import sys, voxray.cli.checks, voxray.cli.overrides, voxray.cli.sweep; "
            "print(sorted({'torch', 'lightning', 'timm', 'pandas'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("mistake, says", [
    (["train.py", "data.root={tmp}/missing"], ["data.root=", "/missing does not exist", "Common Voice"]),
    (["train.py", "data.batch_size=-4"], ["data.batch_size=-4", "at least 1"]),
])
def test_a_mistake_is_one_line_within_seconds(tmp_path: Path, mistake: list[str], says: list[str]) -> None:
    done, seconds = run([arg.format(tmp=tmp_path) for arg in mistake], tmp_path)
    assert done.returncode == 1 and seconds < FAST_SECONDS, (seconds, done.stderr[-2000:])
    assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert all(s in done.stderr for s in says), done.stderr
    assert not (tmp_path / "cache").exists(), "nothing prepared before the check"


def test_hydra_full_error_keeps_the_traceback(tmp_path: Path) -> None:
    done, _ = run(["train.py", "data.batch_size=0"], tmp_path, HYDRA_FULL_ERROR="1")
    assert done.returncode == 1 and "Traceback" in done.stderr and "UserError: data.batch_size=0" in done.stderr


@pytest.mark.parametrize("overrides, says", [
    (["data.val_fraction=0.6", "data.test_fraction=0.5"], "leave nothing to train on"),
    (["data.test_fraction=1.5"], "data.test_fraction=1.5 must be a fraction in [0, 1)"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0 must be a whole number"),
    (["experiment=xray_pneumonia", "model.net.weights=/nowhere/densenet121.safetensors"], "is not a file"),
    (["experiment=xray_pneumonia", "data.root={tmp}"], "no chest X-ray layout found"),
    (["data.root={tmp}/validated.tsv"], "is a file; pass the folder that holds it"),
    (["data.root={tmp}/cv-corpus"], "but {tmp}/cv-corpus/en does; pass data.root={tmp}/cv-corpus/en"),
    (["data.root={tmp}/loose/clips"],
     "holds 2 audio clips but no Common Voice table (validated.tsv, train/dev/test.tsv"),
    (["data.root={tmp}/loose/clips"], "to classify the clips with a trained model run predict.py ckpt_path="),
    (["data.root={tmp}/cv-corpus/en/clips"], "data.root={tmp}/cv-corpus/en/clips holds clips, and the Common Voice "
                                             "table that labels them is in its parent ({tmp}/cv-corpus/en/"
                                             "validated.tsv); pass data.root={tmp}/cv-corpus/en"),
    (["experiment=voice_mel", "data.root={tmp}/chest_xray"], "data.root={tmp}/chest_xray holds a chest X-ray data "
                                                            "set (kermany), not voices; to train on it run "
                                                            "experiment=xray_pneumonia data.root={tmp}/chest_xray"),
])
def test_config_mistakes_name_the_setting(tmp_path: Path, overrides: list[str], says: str) -> None:
    for folder in (tmp_path, tmp_path / "cv-corpus" / "en"):  # a release unpacks to cv-corpus/<language>/
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "validated.tsv").write_text("client_id\tpath\n")
    (tmp_path / "cv-corpus" / "en" / "clips").mkdir()
    (tmp_path / "cv-corpus" / "en" / "clips" / "common_voice_en_1.mp3").write_bytes(b"")
    (tmp_path / "loose" / "clips" / "deep").mkdir(parents=True)  # clips with no table beside them
    for name in ("a.mp3", "deep/b.WAV", "notes.txt"):
        (tmp_path / "loose" / "clips" / name).write_bytes(b"")
    if any("chest_xray" in o for o in overrides):  # Kermany's release, only where asked (X-ray cases search tmp)
        for split, label in (("train", "NORMAL"), ("train", "PNEUMONIA"), ("test", "NORMAL")):
            (tmp_path / "chest_xray" / split / label).mkdir(parents=True)
            (tmp_path / "chest_xray" / split / label / "IM-0001-0001.jpeg").write_bytes(b"")
    with pytest.raises(UserError, match=re.escape(says.format(tmp=tmp_path))):
        check_train(compose_train([o.format(tmp=tmp_path) for o in overrides]))


def test_the_quick_preset_composes_a_small_corpus() -> None:
    cfg = compose_train(["experiment=voice_mel", "debug=quick"])
    check_train(cfg)
    assert cfg.data.synthetic.n_speakers < 100 and cfg.trainer.max_epochs <= 5


def test_a_missing_gpu_points_to_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match="no GPU.*trainer=cpu"):
        check_accelerator(OmegaConf.create({"accelerator": "gpu", "devices": 1}))


def test_an_unreachable_hub_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online mode against a closed local port: the hub client alone would retry for about a minute."""
    from huggingface_hub import constants

    from voxray.errors import PretrainedWeightsUnavailable
    from voxray.models.backbone import create_backbone

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(PretrainedWeightsUnavailable, match="model.net.pretrained=false"):
        create_backbone("resnet18", 2, pretrained=True)
    assert time.monotonic() - start < 10
    assert constants.HF_HUB_OFFLINE is False, "offline mode is restored after the attempt"


def test_a_run_logs_one_line_per_epoch_once(tmp_path: Path, official_corpus_module: Path) -> None:
    """Two jobs in one process: debug=fdr keeps no checkpoint; debug=limit (2 epochs) logs 2 lines."""
    done, _ = run(["train.py", "-m", "debug=fdr,limit", f"data.root={official_corpus_module}",
                   "data.clean.denoise=false", "data.num_workers=0", "data.batch_size=8", "model.net.channels=[4,8]",
                   "model.frontend.logmel.n_mels=32", "logger=csv", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                  tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    fdr, limit = tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"
    assert not list(fdr.rglob("*.ckpt")), "fast_dev_run keeps no checkpoint"
    epochs = [line for line in (limit / "debug.log").read_text().splitlines() if "voxray.callbacks.progress" in line]
    assert [re.search(r"epoch (\d \(\d of \d\)) ", line)[1] for line in epochs] == ["0 (1 of 2)", "1 (2 of 2)"]
    assert all(re.search(r"train/loss \d\.\d{4}  val/uar \d\.\d{4} \(best \d\.\d{4} at epoch \d\)", e) for e in epochs)
    # the best epoch a person reads in the log is the one of the checkpoint that was tested
    best = int(re.search(r"at epoch (\d)\)", epochs[-1])[1])
    assert best == json.loads((limit / "metrics.json").read_text())["epoch"]
    output = done.stdout + done.stderr
    assert output.count("GPU available:") == 2, "each Lightning INFO line once per job"
    assert "INFO: " not in done.stderr and "Tip:" not in output and "LeafSpec" not in output
    assert "smaller than the logging interval" not in output, "log_every_n_steps follows the data size"
    assert "torchmetrics" not in output, "single-class warnings are one line of ours"
    assert "FLOPs" not in output and "Flops" not in output, "no FLOPs column or total: nothing measures them"
    assert "Trainable params" in (limit / "debug.log").read_text(), "the model summary is in the run's log"
    assert "Skipping setting a default `ModelSummary`" not in output


@pytest.mark.parametrize("logger, package", [("wandb", "wandb"), ("mlflow", "mlflow")])
def test_an_optional_logger_not_installed_is_one_line(monkeypatch: pytest.MonkeyPatch, logger: str,
                                                       package: str) -> None:
    """logger=wandb / logger=mlflow, as in lightning-hydra-template; their packages stay optional."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    cfg = compose_train([f"logger={logger}"])
    assert cfg.logger[logger]["_target_"].startswith("lightning.pytorch.loggers.")
    says = f"logger={logger} needs the {package} package, which is not installed: uv pip install {package}"
    with pytest.raises(UserError, match=re.escape(says)):
        check_train(cfg)


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_a_missing_logger_package_is_one_line_in_seconds(tmp_path: Path) -> None:
    done, seconds = run(["train.py", "logger=wandb"], tmp_path)
    assert done.returncode == 1 and seconds < FAST_SECONDS, (seconds, done.stderr[-2000:])
    assert done.stderr.count("\n") == 1 and "uv pip install wandb" in done.stderr, done.stderr


def test_extras_print_config_shows_the_composed_config_first(tmp_path: Path) -> None:
    """extras.print_config=true prints the resolved config at the start, before any check stops the run."""
    assert compose_train([]).extras.print_config is False
    done, _ = run(["train.py", "extras.print_config=true", "trainer=cpu", "trainer.max_epochs=0"], tmp_path)
    assert done.returncode == 1 and "trainer.max_epochs=0 must be a whole number" in done.stderr, done.stderr
    printed = done.stdout
    assert "max_epochs: 0" in printed and "precision: 32-true" in printed, printed  # resolved
    assert "optimized_metric: val/uar" in printed


def test_too_many_unreadable_clips_is_one_line_naming_skipped_csv(tmp_path: Path, official_corpus_module: Path) -> None:
    """The data's own problem, found while preparing it: one line, no traceback."""
    import shutil

    from tests.helpers.config import VOICE_TINY, compose_cfg
    from voxray.cli.checks import one_line_user_errors
    from voxray.train import train

    corpus = Path(shutil.copytree(official_corpus_module, tmp_path / "cv"))
    for clip in sorted((corpus / "clips").glob("*.mp3"))[:30]:
        clip.write_bytes(b"")  # 30 of 37 clips: few left to decode
    cfg = compose_cfg("train", tmp_path / "run", tmp_path / "cache", [*VOICE_TINY, f"data.root={corpus}"])
    with pytest.raises(SystemExit) as stopped, one_line_user_errors():
        train(cfg)
    message = str(stopped.value.code)
    assert message.startswith("error: 30 of 37 files (81.1%) were skipped") and "\n" not in message, message
    assert re.search(r"the reasons are in \S+/skipped\.csv\. Fix those files, or raise data\.max_skip_fraction",
                     message)


def test_ctrl_c_prints_the_command_that_resumes(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning stops on Ctrl-C and calls `on_exception`: the run's checkpoint callback says how to go on."""
    from types import SimpleNamespace

    from hydra.utils import instantiate

    from tests.helpers.config import compose_cfg

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "outputs" / "train" / "runs" / "2026-01-01_10-00-00"
    overrides = ["experiment=voice_mel", "model.net.channels=[4,8]", "ckpt_path=old/last.ckpt"]
    checkpoint = instantiate(compose_cfg("train", run, tmp_path / "cache", overrides).callbacks.model_checkpoint)
    trainer = SimpleNamespace(is_global_zero=True)
    with caplog.at_level("INFO"):
        checkpoint.on_exception(trainer, None, KeyboardInterrupt())
    assert "resume" not in caplog.text, "no last.ckpt yet: nothing to resume from"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    with caplog.at_level("INFO"):
        checkpoint.on_exception(trainer, None, KeyboardInterrupt())
    command = ("python train.py experiment=voice_mel 'model.net.channels=[4,8]' "
               "ckpt_path=outputs/train/runs/2026-01-01_10-00-00/checkpoints/last.ckpt")
    assert f"resume with: {command}" in caplog.text, caplog.text


def test_single_class_warnings_fold_into_one_line_of_ours(caplog: pytest.LogCaptureFixture) -> None:
    """A validation split without some classes: torchmetrics warns per class, per metric and per epoch."""
    import warnings

    from hydra.utils import instantiate

    from voxray.cli.logs import filter_library_warnings

    model = instantiate(compose_train(["model.net.channels=[4,8]", "model.frontend.logmel.n_mels=32"]).model)
    task = next(iter(model.tasks))
    probs = torch.softmax(torch.randn(6, len(task.classes), generator=torch.Generator().manual_seed(0)), dim=1)
    targets = torch.tensor([0, 0, 1, 1, 0, 1])  # two of the age groups
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("INFO"):
        warnings.simplefilter("always")
        filter_library_warnings()
        for _ in range(2):  # two validation epochs
            model._task_metrics("val", task, probs, targets, None)
    assert not [w for w in caught if "torchmetrics" in w.filename], [str(w.message) for w in caught]
    absent = ", ".join(task.classes[2:])
    ours = [r.getMessage() for r in caplog.records if "no example of" in r.getMessage()]
    assert ours == [f"val: no example of {absent} among its 6 examples; their recall is undefined and auprc_macro "
                    "leaves them out, auroc counts each as 0"], ours

