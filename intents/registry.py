"""Hot-reloadable intents: keeps the last good set when an edit is broken."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

from .answer_reader import AnswerReader, load_answer_reader
from .classifier import Classifier
from .loader import ConfigError, IntentConfigError, IntentSet, default_intents_dir, load_intents

CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo"})


class ReloadResult(NamedTuple):
    ok: bool
    message: str
    errors: list[ConfigError]


def watched_files(directory: Path) -> list[Path]:
    """Every file an intent set can read: all files below the intents folder but code (the YAML and whatever
    ``none.training`` globs match; the globs must stay inside the folder, so a new or fixed training file
    counts whichever glob names it)."""
    return sorted(
        p for p in directory.rglob("*")
        if p.is_file() and p.suffix not in CODE_SUFFIXES and "__pycache__" not in p.parts
    )


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    if not directory.is_dir():
        return ()
    out = []
    for p in watched_files(directory):
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
        self._fp = _fingerprint(self.directory)  # before loading: an edit made meanwhile is seen next time
        intent_set = load_intents(self.directory)  # raises IntentConfigError on a bad first load
        classifier = Classifier(intent_set)
        self._state = (intent_set, classifier, load_answer_reader(self.directory, classifier.prep))
        self.last_errors: list[ConfigError] = []

    @property
    def intents(self) -> IntentSet:
        return self._state[0]

    @property
    def classifier(self) -> Classifier:
        return self._state[1]

    @property
    def answers(self) -> AnswerReader:
        """The reader of answers to "问题解决了吗？" (``answers/answers.yaml``), reloaded with the intents."""
        return self._state[2]

    def reload(self) -> ReloadResult:
        with self._lock:
            fp = _fingerprint(self.directory)  # before loading: an edit made meanwhile is seen next time
            try:
                intent_set = load_intents(self.directory)
                classifier = Classifier(intent_set)
                answers = load_answer_reader(self.directory, classifier.prep)
            except IntentConfigError as exc:
                self._fp = fp  # do not report the same broken state again on every poll
                self.last_errors = exc.errors
                n = len(exc.errors)
                msg = f"意图配置未重新加载：{n} 处错误，继续使用上一版有效配置\n{exc}"
                return ReloadResult(False, msg, exc.errors)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the bot's tick: keep the last good set
                err = ConfigError(str(self.directory), None, f"unexpected error while loading: {exc!r}")
                self._fp = fp
                self.last_errors = [err]
                return ReloadResult(False, f"意图配置未重新加载，继续使用上一版有效配置\n{err}", [err])
            self._fp = fp
            self._state = (intent_set, classifier, answers)
            self.last_errors = []
            n_ex = sum(len(d.examples) for d in intent_set.defs.values())
            msg = f"已重新加载意图配置：{len(intent_set.intents)} 个意图，{n_ex} 条例句"
            if intent_set.training:
                msg += f"，{len(intent_set.training)} 条训练消息"
            msg += f"；答复识别 {len(answers.rules.examples) + len(answers.rules.training)} 条样例"
            return ReloadResult(True, msg, [])

    def reload_if_changed(self) -> ReloadResult | None:
        if _fingerprint(self.directory) == self._fp:
            return None
        return self.reload()
