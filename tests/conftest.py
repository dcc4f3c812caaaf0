"""Shared fixtures: tiny Common Voice folders in tmp_path (built by `tests.helpers.voices`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.voices import make_official_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network in tests: a hub call fails at once


@pytest.fixture
def official_corpus(tmp_path: Path) -> Path:
    return make_official_corpus(tmp_path / "cv")


@pytest.fixture(scope="module")
def official_corpus_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same corpus, shared by the tests of one module."""
    return make_official_corpus(tmp_path_factory.mktemp("cv"))
