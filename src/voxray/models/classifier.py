"""The one LightningModule of voxray: front end -> network -> logits, class-weighted loss, metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from voxray.evaluation.decision import fixed_threshold, positive_index, require_both_classes
from voxray.evaluation.joint_metrics import mean_uar_reports
from voxray.evaluation.metrics import multiclass_report, split_scalars, stage_metrics
from voxray.evaluation.speaker_clips import speaker_clip_uar
from voxray.evaluation.speakers import speaker_report, speaker_uar
from voxray.evaluation.threshold import CHOSEN, epoch_threshold, initial_threshold, operating_points, validation_scalars
from voxray.models.outputs import EpochOutputs
from voxray.models.tasks import MISSING, Task, Tasks

log = logging.getLogger(__name__)


class Classifier(L.LightningModule):
    """Classification on raw batches: the front end (mel, augmentation) runs on the device.

    Args:
        frontend: module mapping a raw batch (int16 waves / uint8 images) to network input.
        net: callable `num_classes -> nn.Module` (a Hydra `_partial_`), e.g. `MelCNN`.
        class_names: ordered class names; their count sets the head size. A mapping task -> class
            names (`{age: [...], gender: [...]}`) makes a joint model (`voxray.models.tasks`): one
            network with the classes of all tasks, a masked class-weighted loss per task, metrics
            `stage/<task>/...` and `stage/uar` = the mean of the tasks' UARs.
        optimizer: callable `params -> Optimizer` (partial).
        scheduler: callable `optimizer -> LRScheduler` (partial), or None.
        loss: `weighting` (balanced | none | manual), `manual_weights` (per task for a joint
            model), `label_smoothing`.
        decision: for a screening task, `positive_class` (e.g. pneumonia) and
            `target_sensitivity` (0.95): each validation epoch picks the threshold with the best
            specificity at that sensitivity (stored in the checkpoint), and the test reports
            metrics at it and at 0.5; a validation split without both classes stops the run before
            its first epoch. A number as `threshold` (null) fixes it instead: nothing is chosen.
            None for plain argmax decisions.
        n_boot: bootstrap draws for the test metrics' 95% CIs (1000), resampling speakers or
            patients (not clips or films) within each class.
        speaker_level: also score speakers (one decision from each speaker's clips,
            `voxray.evaluation.speakers`): `val/speaker/uar` every epoch, `test/speaker` with CIs, and
            `stage/speaker/clip_uar` (clip decisions, each speaker weighing one: the voice
            checkpoint monitor, `voxray.evaluation.speaker_clips`); False for per-film decisions (X-ray).
        mixup: alpha of mixup in training (Zhang et al., 2018): each batch is blended with a
            shuffled copy of itself, weight lambda ~ Beta(alpha, alpha), after the front end, and
            the loss with both labels; 0 (default) disables it.
    """

    def __init__(
        self,
        frontend: nn.Module,
        net: Callable[..., nn.Module],
        class_names: Sequence[str] | Mapping[str, Sequence[str]],
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        decision: Mapping[str, Any] | None = None,
        n_boot: int = 1000,
        speaker_level: bool = False,
        mixup: float = 0.0,
    ) -> None:
        super().__init__()
        self.tasks = Tasks(class_names)
        # plain types, stored in checkpoints: a list, or {task: list} for a joint model
        self.class_names = {t.name: t.classes for t in self.tasks} if self.tasks.joint else list(class_names)
        k = self.tasks.num_classes
        self.frontend = frontend
        self.net = net(num_classes=k)
        if hasattr(frontend, "adapt_to"):  # e.g. normalisation that the backbone's weights expect
            frontend.adapt_to(self.net)
        self.optimizer_fn, self.scheduler_fn = optimizer, scheduler
        self.loss_cfg = {"weighting": "balanced", "manual_weights": None, "label_smoothing": 0.0, **(loss or {})}
        # A buffer, so the weights computed from the training split travel in the checkpoint.
        self.register_buffer("class_weights", torch.ones(k))
        self.decision = dict(decision) if decision else None
        self.n_boot, self.speaker_level = n_boot, speaker_level
        if mixup < 0:
            raise ValueError(f"mixup must be >= 0 (0 disables it), got {mixup}")
        self.mixup = mixup
        if self.decision:
            self.positive = positive_index(self.decision, self.class_names, self.tasks.joint)
        # threshold_from: where the threshold comes from, for metrics.json and figures
        threshold, self.threshold_from = initial_threshold(self.decision)
        self.register_buffer("threshold", torch.tensor(threshold))
        self._outputs = EpochOutputs()  # this eval epoch's outputs: metrics, curves and threshold
        self._examples: tuple[torch.Tensor, ...] | None = None
        self.metrics = nn.ModuleDict({_key(t.prefix(s)): stage_metrics(len(t.classes), t.prefix(s))
                                      for s in ("val", "test") for t in self.tasks})
        self.run_config: dict = {}  # resolved Hydra config, stored in checkpoints for eval/predict
        self.final_metrics: dict[str, dict] = {}
        self._absent: dict[str, list[str]] = {}  # per metric prefix: the classes its last epoch lacked
        self.test_outputs: dict[str, torch.Tensor] = {}  # dataset positions and probabilities
        self.eval_figures: list[dict] = []  # per task, what the last eval epoch's figures show (EvalFigures)

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        counts = self.trainer.datamodule.class_counts("train")
        weights = self.tasks.weights(counts, self.loss_cfg["weighting"], self.loss_cfg["manual_weights"])
        # every process derives the same split, but rank 0's weights are the ones that count
        self.class_weights.copy_(self.trainer.strategy.broadcast(weights, src=0))
        if self.decision and fixed_threshold(self.decision) is None:
            # before the first epoch: a threshold is chosen on validation, which needs both classes
            datamodule = self.trainer.datamodule
            require_both_classes(datamodule.class_counts("val"), self.class_names, self.positive,
                                 getattr(datamodule, "val_fraction", None))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw batch -> logits (B, k), for a joint model the tasks' logits side by side."""
        return self.net(self.frontend(batch))

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.tasks.loss(logits, y, self.class_weights, self.loss_cfg["label_smoothing"])

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, y, _ = batch
        inputs = self.frontend(x)
        if self.mixup > 0:
            # drawn from torch's generator, which BatchSeed reseeds per batch: resumes stay exact
            lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
            other = torch.randperm(len(y)).to(y.device)
            logits = self.net(lam * inputs + (1 - lam) * inputs[other])
            loss = lam * self._loss(logits, y) + (1 - lam) * self._loss(logits, y[other])
        else:
            loss = self._loss(self.net(inputs), y)
        # averaged on the device over the epoch: a per-step value would cost a host sync every step
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def _eval_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        x, y, index = batch
        inputs = self.frontend(x)  # (B, C, H, W)
        logits = self.net(inputs)
        probs = self.tasks.probs(logits)
        losses, weights = self.tasks.losses(logits, y, self.class_weights, self.loss_cfg["label_smoothing"])
        self._outputs.add(index, probs, y, losses, weights)
        if batch_idx == 0 and inputs.dim() == 4:  # images or mel spectrograms, which TensorBoard's figure draws
            self._examples = (inputs[:8].float().cpu(), y[:8].cpu(), probs[:8].cpu())

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx)

    def test_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._eval_step(batch, batch_idx)

    def _groups(self, stage: str, index: torch.Tensor) -> np.ndarray | None:
        """Speaker / patient of each evaluated example, for the group bootstrap (None without a DataModule)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        datasets = getattr(datamodule, "datasets", {})
        return datasets[stage].groups[index.numpy()] if stage in datasets else None

    def _eval_epoch_end(self, stage: str) -> None:
        out = self._outputs.gather(self)  # every example once, on every process
        probs, targets = out["probs"], out["targets"]
        self.eval_figures = []
        groups = self._groups(stage, out["index"])
        scalars, others = {f"{stage}/loss": float(out["loss"]), f"{stage}/n_examples": len(targets)}, {}
        for task in self.tasks:
            task_scalars, task_others = self._task_metrics(stage, task, probs, targets, groups)
            scalars.update(task_scalars)
            others.update(task_others)
        if self.tasks.joint:  # the headline of a joint model: the mean over its tasks
            for name in ("uar", "speaker/uar", "speaker/clip_uar"):
                values = [scalars.get(f"{t.prefix(stage)}/{name}") for t in self.tasks]
                if None not in values:
                    scalars[f"{stage}/{name}"] = float(np.mean(values))
            if stage == "test":
                others.update(self._joint_intervals(probs, targets, groups))
        headline = f"{stage}/uar"
        self.log(headline, scalars[headline], prog_bar=True)
        self.log_dict({k: v for k, v in scalars.items() if k != headline})
        self.final_metrics[stage] = {**scalars, **others}
        if stage == "test":
            self.test_outputs = {"index": out["index"], "probs": probs}
        if self.decision:
            self._decide(stage, probs[:, self.positive], (targets == self.positive).long(), out["index"])

    def _task_metrics(self, stage: str, task: Task, probs: torch.Tensor, targets: torch.Tensor,
                      groups: np.ndarray | None) -> tuple[dict, dict]:
        """One task's scalars and other values (confusion matrix; at test, reports with CIs) over
        the rows that carry its label; names start with `task.prefix(stage)`."""
        prefix, names = task.prefix(stage), task.classes
        targets = self.tasks.targets(targets, task)
        rows = targets != MISSING
        probs, targets = probs[rows][:, task.columns], targets[rows]
        groups = groups[rows.numpy()] if groups is not None else None
        metrics = self.metrics[_key(prefix)]
        metrics.update(probs, targets)
        scalars, others = split_scalars(metrics.compute(), names)
        metrics.reset()
        self._say_absent(prefix, names, targets)
        if self.tasks.joint:
            scalars[f"{prefix}/n_examples"] = len(targets)
        if self.speaker_level and groups is not None:
            scalars[f"{prefix}/speaker/uar"] = speaker_uar(probs, targets, groups)
            scalars[f"{prefix}/speaker/clip_uar"] = speaker_clip_uar(probs, targets, groups)
        if stage == "test":
            report = multiclass_report(probs, targets, groups, names, self.n_boot)
            others.update({f"{prefix}/{k}": v for k, v in report.items()})
            if self.speaker_level and groups is not None:
                others[f"{prefix}/speaker"] = speaker_report(probs, targets, groups, names, self.n_boot)
        self.eval_figures.append({"stage": prefix, "step": self.current_epoch, "class_names": names,
                                  "confmat": others[f"{prefix}/confmat"], "probs": probs, "targets": targets,
                                  "examples": self._task_examples(task)})
        return scalars, others

    def _say_absent(self, prefix: str, names: Sequence[str], targets: torch.Tensor) -> None:
        """One line when a split lacks classes (again only when the set changes), in place of
        torchmetrics' warnings per class, metric and epoch (`voxray.cli.logs.filter_library_warnings`)."""
        support = torch.bincount(targets, minlength=len(names)).tolist()
        absent = [name for name, n in zip(names, support) if n == 0]
        if absent and absent != self._absent.get(prefix) and self.global_rank == 0:
            log.warning(f"{prefix}: no example of {', '.join(absent)} among its {len(targets)} examples; their "
                        "recall is undefined and auprc_macro leaves them out, auroc counts each as 0")
        self._absent[prefix] = absent

    def _joint_intervals(self, probs: torch.Tensor, targets: torch.Tensor, groups: np.ndarray | None) -> dict:
        """`test/uar_ci95` of a joint model's headline and its speaker block, from draws shared by the tasks."""
        clips, people = mean_uar_reports([probs[:, t.columns] for t in self.tasks], targets, groups, self.n_boot,
                                         class_names=self.class_names)
        out = {f"test/{k}": v for k, v in clips.items() if k != "uar"}
        if people is not None and self.speaker_level:
            out["test/speaker"] = people
        return out

    def _task_examples(self, task: Task) -> tuple[torch.Tensor, ...] | None:
        """The first validation batch's inputs, one task's labels and probabilities, for TensorBoard."""
        if self._examples is None:
            return None
        inputs, y, probs = self._examples
        y = self.tasks.targets(y, task)
        rows = y != MISSING
        return inputs[rows], y[rows], probs[rows][:, task.columns]

    def _decide(self, stage: str, scores: torch.Tensor, targets: torch.Tensor, index: torch.Tensor) -> None:
        """Validation: choose the threshold; test: report both operating points with CIs."""
        if stage == "val":
            if fixed_threshold(self.decision) is None:
                self._choose_threshold(scores, targets)
            self.log_dict(validation_scalars(scores, targets, self.threshold))
            return
        reports, scalars = operating_points(stage, scores, targets, self.threshold, self.threshold_from,
                                            self._groups(stage, index), self.n_boot)
        self.final_metrics[stage].update(reports)
        self.log_dict(scalars)

    def _choose_threshold(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        """This validation epoch's threshold; an epoch of one class (a validation cut short, e.g. by
        `trainer.limit_val_batches`) keeps the current one, and says so."""
        threshold = epoch_threshold(scores, targets, self.decision["target_sensitivity"])
        if threshold is not None:
            self.threshold.fill_(threshold)
            self.threshold_from = CHOSEN
        elif self.global_rank == 0:
            positives = int(targets.sum())
            log.warning(f"validation epoch {self.current_epoch} holds {positives} {self.decision['positive_class']} "
                        f"and {len(targets) - positives} other examples, so no threshold can be chosen on it; the "
                        f"threshold stays at {float(self.threshold):.4g} ({self.threshold_from})")

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self._eval_epoch_end("val")
        else:
            self._outputs.reset()

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self) -> dict:
        # only trainable parameters: a frozen backbone joins later through BackboneFreeze
        optimizer = self.optimizer_fn(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_fn is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_fn(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # plain types only: checkpoints must load with torch.load(weights_only=True)
        checkpoint["voxray"] = {
            "class_names": self.class_names, "config": self.run_config, "threshold": float(self.threshold),
            "threshold_from": self.threshold_from,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # a checkpoint without the entry had its threshold chosen on validation
        self.threshold_from = checkpoint.get("voxray", {}).get("threshold_from", CHOSEN)


def _key(prefix: str) -> str:
    """A module name for a metric prefix (`val/age` -> `val_age`): module names cannot hold '/'."""
    return prefix.replace("/", "_")
