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
    """A writable copy of the shipped intent YAML."""
    d = tmp_path / "intents"
    d.mkdir()
    for p in default_intents_dir().glob("*.yaml"):
        (d / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
