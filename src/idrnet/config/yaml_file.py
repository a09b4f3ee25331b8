"""Reading a YAML file a person wrote, whatever editor saved it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .typed import ConfigError


def load_yaml_file(path: str | Path) -> Any:
    """The data of a YAML file; :class:`ConfigError` naming the file for bad YAML or bad text.

    The bytes go to PyYAML, which reads UTF-8 with or without a byte-order mark and UTF-16 with one
    (Windows PowerShell's ``>`` writes UTF-16); any other encoding is named as such, with where it fails.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return yaml.load(data, Loader=_UniqueKeyLoader)
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.reader.ReaderError as err:
        if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ConfigError(f"{path}: binary data, not YAML text (a model or image file given as a YAML?)") from None
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.position}: {err.reason}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {_where_and_why(err)}") from None


class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader refusing a key written twice in one mapping, which it would read as the last
    value without a word (a second ``lr:`` added at the end of a config silently replaced the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' merges are meant to repeat keys
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the base class names it
                continue
            if first is not None:
                where = f"line {line}" if first == line else f"lines {first} and {line}"
                raise _DuplicateKey(f"key {key!r} is given twice ({where}); YAML would keep the last without a "
                                    "word: keep one")
            lines[key] = line
        return super().construct_mapping(node, deep)


def _where_and_why(err: yaml.YAMLError) -> str:
    """PyYAML's error as a person reads it: line and column (counted from 1), the line itself, what is
    wrong, and for the usual slips (a tab, an indentation that does not line up) what to do."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(err).split())
    lines = mark.buffer.splitlines() if isinstance(mark.buffer, str) else []
    text = lines[mark.line].rstrip("\0") if mark.line < len(lines) else ""
    said = f"line {mark.line + 1}, column {mark.column + 1} ({text.strip()!r}): {problem}"
    if "\t" in problem or text[: mark.column + 1].endswith("\t"):
        said += "; YAML indents with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        said += "; a value holding ': ' needs quotes, and a key its own line"
    elif "block end" in problem:
        said += "; check that the keys of one section are indented alike (with spaces)"
    elif "<stream end>" in problem:
        said += "; a '{', '[' or quote opened earlier is not closed"
    return said
