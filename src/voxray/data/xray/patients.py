"""Patient ids from Kermany and Mendeley chest X-ray file names, and a count of the names that give none."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

# Kermany file-name patterns -> patient id (matched on the stem, any case):
#   person1234_bacteria_5678[_2], person1234_virus_567      -> person1234 (pneumonia, Kaggle)
#   [NORMAL2-]IM-0115-0001[-0002] (second view)             -> IM-0115    (normal, Kaggle)
#   NORMAL-1003233-0001, BACTERIA-7422-0001, VIRUS-958-0001 -> 1003233    (Mendeley v2/v3)
# Mendeley's number identifies the patient under every label, so it stands alone.
_PATIENT_PATTERNS = (
    (re.compile(r"^person(\d+)(?:_|$)", re.IGNORECASE), "person{}"),
    (re.compile(r"^(?:normal\d*-)?IM-(\d+)(?:-\d+)+$", re.IGNORECASE), "IM-{}"),
    (re.compile(r"^(?:normal|bacteria|virus)-(\d+)-\d+$", re.IGNORECASE), "{}"),
)
# Warn when more stems than this (or this share of the images) match no pattern.
_FALLBACK_WARN_COUNT, _FALLBACK_WARN_SHARE, _FALLBACK_EXAMPLES = 10, 0.01, 5


def kermany_patient_id(name: str) -> str:
    """Patient id from a Kermany file name; the file stem when the name has no known pattern.

    person1234_bacteria_5678.jpeg -> person1234; NORMAL2-IM-0123-0001-0002.jpeg -> IM-0123 (the
    NORMAL2 batch prefix is dropped, so IM-0123 in both batches counts as one patient: merging
    can only make a split coarser, never leak); Mendeley's BACTERIA-7422-0001.jpeg -> 7422.
    An unparseable name falls back to its stem, a patient of one image, so a stray file never
    blocks reading the dataset; read_xray_dataset counts those.

    Args:
        name: file name or path.
    """
    stem = Path(name).stem
    return _parse_patient_id(stem) or stem


def _parse_patient_id(stem: str) -> str | None:
    """Patient id of a Kermany or Mendeley file stem, or None when no pattern matches."""
    for pattern, template in _PATIENT_PATTERNS:
        if match := pattern.match(stem):
            return template.format(match.group(1))
    return None


def patient_id_fallbacks(table: pd.DataFrame, base: Path) -> dict:
    """Count the files whose name gave no patient id, and warn when they are more than a few."""
    stray = [Path(p) for p in table["path"] if _parse_patient_id(Path(p).stem) is None]
    examples = [path.relative_to(base).as_posix() for path in stray[:_FALLBACK_EXAMPLES]]
    if len(stray) > min(_FALLBACK_WARN_COUNT, _FALLBACK_WARN_SHARE * len(table)):
        log.warning(
            "%d of %d Kermany file names match no patient-id pattern (e.g. %s); each counts as its "
            "own patient, so one patient's films may straddle splits. Rename them to a Kermany "
            "pattern or list patient_id in a manifest.csv",
            len(stray), len(table), ", ".join(examples),
        )
    return {"patient_id_fallbacks": len(stray), "patient_id_fallback_examples": examples}
