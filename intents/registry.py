"""Hot-reloadable intents: keeps the last good set when an edit is broken."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

from .classifier import Classifier
from .loader import (
    NONE_ID,
    ConfigError,
    IntentConfigError,
    IntentSet,
    default_intents_dir,
    load_intents,
    yaml_files,
)


class ReloadResult(NamedTuple):
    ok: bool
    message: str
    errors: list[ConfigError]


def watched_files(directory: Path, intent_set: IntentSet | None) -> list[Path]:
    """The intent YAML and the training files its ``none.training`` globs match now (a new file counts)."""
    files = yaml_files(directory)
    none = intent_set.defs.get(NONE_ID) if intent_set is not None else None
    for pattern, _line in none.training if none is not None else ():
        files.extend(sorted(directory.glob(pattern)))
    return files


def _fingerprint(directory: Path, intent_set: IntentSet | None) -> tuple[tuple[str, int, int], ...]:
    if not directory.is_dir():
        return ()
    out = []
    for p in watched_files(directory, intent_set):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p.relative_to(directory)), st.st_mtime_ns, st.st_size))
    return tuple(out)


class IntentRegistry:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_intents_dir()
        self._lock = threading.Lock()
        intent_set = load_intents(self.directory)  # raises IntentConfigError on a bad first load
        self._fp = _fingerprint(self.directory, intent_set)
        self._state = (intent_set, Classifier(intent_set))
        self.last_errors: list[ConfigError] = []

    @property
    def intents(self) -> IntentSet:
        return self._state[0]

    @property
    def classifier(self) -> Classifier:
        return self._state[1]

    def reload(self) -> ReloadResult:
        with self._lock:
            try:
                intent_set = load_intents(self.directory)
                classifier = Classifier(intent_set)
            except IntentConfigError as exc:
                # do not report the same broken state again on every poll
                self._fp = _fingerprint(self.directory, self.intents)
                self.last_errors = exc.errors
                n = len(exc.errors)
                msg = f"intents not reloaded: {n} error{'s' if n != 1 else ''}; keeping the last good set\n{exc}"
                return ReloadResult(False, msg, exc.errors)
            self._fp = _fingerprint(self.directory, intent_set)
            self._state = (intent_set, classifier)
            self.last_errors = []
            n_ex = sum(len(d.examples) for d in intent_set.defs.values())
            msg = f"intents reloaded: {len(intent_set.intents)} intents, {n_ex} examples"
            if intent_set.training:
                msg += f", {len(intent_set.training)} training messages"
            return ReloadResult(True, msg, [])

    def reload_if_changed(self) -> ReloadResult | None:
        if _fingerprint(self.directory, self.intents) == self._fp:
            return None
        return self.reload()
