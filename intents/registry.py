"""Hot-reloadable intents: keeps the last good set when an edit is broken."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

from .classifier import Classifier
from .loader import ConfigError, IntentConfigError, IntentSet, default_intents_dir, load_intents, yaml_files


class ReloadResult(NamedTuple):
    ok: bool
    message: str
    errors: list[ConfigError]


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in yaml_files(directory):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


class IntentRegistry:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_intents_dir()
        self._lock = threading.Lock()
        self._fp = _fingerprint(self.directory) if self.directory.is_dir() else ()
        intent_set = load_intents(self.directory)  # raises IntentConfigError on a bad first load
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
            fp = _fingerprint(self.directory) if self.directory.is_dir() else ()
            try:
                intent_set = load_intents(self.directory)
                classifier = Classifier(intent_set)
            except IntentConfigError as exc:
                self._fp = fp  # do not report the same broken state again on every poll
                self.last_errors = exc.errors
                n = len(exc.errors)
                msg = f"intents not reloaded: {n} error{'s' if n != 1 else ''}; keeping the last good set\n{exc}"
                return ReloadResult(False, msg, exc.errors)
            self._fp = fp
            self._state = (intent_set, classifier)
            self.last_errors = []
            n_ex = sum(len(d.examples) for d in intent_set.defs.values())
            return ReloadResult(True, f"intents reloaded: {len(intent_set.intents)} intents, {n_ex} examples", [])

    def reload_if_changed(self) -> ReloadResult | None:
        fp = _fingerprint(self.directory) if self.directory.is_dir() else ()
        if fp == self._fp:
            return None
        return self.reload()
