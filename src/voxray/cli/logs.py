"""The log of a run as the entry scripts set it up: each line once, readable above the progress bar, and
library noise filtered where it arises (never by silencing a whole library)."""

from __future__ import annotations

import logging
import sys
import warnings

# torchmetrics on a split that lacks a class, per class, metric and epoch: the classifier says it once
SINGLE_CLASS_WARNINGS = ("No positive samples in targets", "No negative samples in targets",
                         "No positive samples found in target", "Average precision score for one or more classes")


def _not_an_advert(record: logging.LogRecord) -> bool:
    """False for Lightning's tips that advertise its cloud products (litlogger, litmodels)."""
    message = record.getMessage()
    return not (message.startswith("💡 Tip:") and ("litlogger" in message or "litmodels" in message))


class _CurrentStdout:
    """`sys.stdout` as it is at each write. While Rich's live progress bar runs in a terminal that is
    Rich's proxy, which prints the line above the bar; a handler holding the original stream would
    write into the bar, and the bar's next refresh would erase the line."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def setup_run_logs() -> None:
    """Adjust the logging that Hydra set up for a run; call once the libraries are imported.

    - Console log lines go to the current `sys.stdout`, so they stay readable above the progress bar.
    - `lightning/__init__.py` gives the `lightning` logger its own stderr handler although its records
      also reach the root logger, so under Hydra every Lightning INFO line came out twice: that
      handler goes when the root logger has handlers (it stays for plain scripts and tests).
    - Lightning's tips advertising litlogger / litmodels are dropped on its rank-zero logger.
    - Library warnings nobody can act on are ignored (`filter_library_warnings`).
    """
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
            handler.setStream(_CurrentStdout())
    if root.handlers:
        lightning_log = logging.getLogger("lightning")
        for handler in list(lightning_log.handlers):
            lightning_log.removeHandler(handler)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_an_advert)
    filter_library_warnings()


def filter_library_warnings() -> None:
    """Ignore torch 2.11's FutureWarning on `LeafSpec` (from Lightning 2.6's `_pytree`, and in export)
    and torchmetrics' warnings on a class missing from a split (`Classifier` logs one line instead)."""
    # one message, two call sites: Lightning's `_pytree` and torch.export copying a spec (copyreg)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning)
    for message in SINGLE_CLASS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
