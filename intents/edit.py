"""Small, safe edits of the intent YAML (used by the review list: "add this message as an example")."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .loader import IntentConfigError, default_intents_dir, load_intents, yaml_files


def _find_intent(directory: Path, intent_id: str) -> tuple[Path, MappingNode, str]:
    for path in yaml_files(directory):
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        nodes = root.value if isinstance(root, SequenceNode) else [root]
        for n in nodes:
            if isinstance(n, MappingNode):
                for k, v in n.value:
                    if isinstance(k, ScalarNode) and k.value == "id" and isinstance(v, ScalarNode) and v.value == intent_id:
                        return path, n, text
    raise KeyError(f"intent {intent_id!r} not found in {directory}")


def add_example(intent_id: str, text: str, directory: Path | None = None) -> Path:
    """Append ``text`` to the ``examples`` of ``intent_id``, keeping the file's comments and layout.

    The result is validated with ``load_intents``; on any error the file is restored and
    IntentConfigError is raised (e.g. the example already exists). Returns the edited file.
    """
    directory = Path(directory) if directory is not None else default_intents_dir()
    text = " ".join(text.split())
    if not text:
        raise ValueError("empty example")
    path, node, original = _find_intent(directory, intent_id)
    lines = original.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    item = json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar
    examples = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "examples"), None)
    if isinstance(examples, SequenceNode) and examples.value and examples.flow_style is False:
        last = examples.value[-1]
        dash_col = max(0, last.start_mark.column - 2)  # items are written "- text"
        insert_at = last.end_mark.line if last.end_mark.column == 0 else last.end_mark.line + 1
        lines.insert(insert_at, " " * dash_col + "- " + item + "\n")
    elif examples is None:
        col = node.start_mark.column
        end = node.end_mark.line if node.end_mark.column == 0 else node.end_mark.line + 1
        lines[end:end] = [" " * col + "examples:\n", " " * col + "  - " + item + "\n"]
    else:
        raise ValueError(f"{path}: the examples of {intent_id!r} are not a block list; edit the file by hand")
    path.write_text("".join(lines), encoding="utf-8")
    try:
        load_intents(directory)
    except IntentConfigError:
        path.write_text(original, encoding="utf-8")
        raise
    return path
