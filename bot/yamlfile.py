"""Load YAML while remembering the line of every key, so errors can say ``file:line``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class LineMap:
    """Maps a path of keys/indexes (``("buildings", "3", "grid")``) to a 1-based line number."""

    def __init__(self) -> None:
        self._lines: dict[tuple[Any, ...], int] = {}

    def add(self, path: tuple[Any, ...], line: int) -> None:
        self._lines.setdefault(tuple(map(str, path)), line)

    def line(self, path: tuple[Any, ...] | list[Any]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        key = tuple(map(str, path))
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return self._lines.get((), None)


class YamlSyntaxError(ValueError):
    """The file is not valid YAML; ``line`` is 1-based."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path, self.line, self.message = path, line, message


def _walk(node: yaml.Node, path: tuple[Any, ...], lines: LineMap) -> Any:
    lines.add(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            lines.add((*path, key), key_node.start_mark.line + 1)
            out[key] = _walk(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse ``path`` safely and return the data with its :class:`LineMap`."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(path, mark.line + 1 if mark else None, str(exc.problem or exc)) from exc
    lines = LineMap()
    if node is None:
        return None, lines
    return _walk(node, (), lines), lines
