import shutil
from pathlib import Path

import pytest

from intents.classifier import Classifier
from intents.loader import default_intents_dir, load_intents

DATA = Path(__file__).resolve().parents[2] / "intents" / "data"


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier(load_intents())


@pytest.fixture()
def intents_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped intent YAML and its training data."""
    d = tmp_path / "intents"
    shutil.copytree(default_intents_dir(), d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
