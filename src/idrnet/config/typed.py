"""Validate plain data (from YAML or JSON) into dataclasses, naming every wrong key and value."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from ..errors import InputError

T = TypeVar("T")


class ConfigError(InputError):
    """A configuration value is missing, unknown or of the wrong type; the message names it."""


def parse_json(text: str, where: str) -> Any:
    """``text`` parsed as JSON; :class:`ConfigError` naming ``where`` (a file and key) when it is not.
    For JSON stored inside files a user hands over (checkpoint metadata, training states)."""
    import json

    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(f"{where}: not valid JSON ({err})") from None


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise :class:`ConfigError`
    naming the key as ``WHERE: a.b.c``."""
    return _convert(cls, data, f"{where}:")


def _example(value: Any, count: int) -> str:
    """", such as [64, 64]" for a size written as 64, 64x64 or [64] where a list of ``count`` is expected."""
    import re

    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f" such as {[value] * count}"
    match = re.fullmatch(r"\s*(\d+)\s*[x×,]\s*(\d+)\s*", value) if isinstance(value, str) else None
    if match and count == 2:
        return f" such as [{match.group(1)}, {match.group(2)}]"
    return ""


def _join(where: str, name: object) -> str:
    return f"{where} {name}" if where.endswith(":") else f"{where}.{name}"


def to_dict(obj: Any) -> Any:
    """Dataclasses (recursively) to plain dicts/lists fit for YAML or JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _accepts_shape(tp: Any, value: Any) -> bool:
    """Whether ``tp`` is the alternative of a union that a mapping or list ``value`` was meant for."""
    origin = get_origin(tp)
    if isinstance(value, dict):
        return dataclasses.is_dataclass(tp) or origin is dict or tp is dict
    if isinstance(value, (list, tuple)):
        return origin in (list, tuple, typing.Sequence) or tp in (list, tuple)
    return False


def _tagged_alternatives(tp: Any) -> dict[str, Any]:
    """``type`` value → dataclass, for a union of dataclasses told apart by a one-value ``type`` field."""
    tags: dict[str, Any] = {}
    for arg in get_args(tp):
        if not dataclasses.is_dataclass(arg):
            return {}
        hint = get_type_hints(arg).get("type")
        if get_origin(hint) is not Literal or len(get_args(hint)) != 1:
            return {}
        tags[get_args(hint)[0]] = arg
    return tags


def _convert_tagged(tags: dict[str, Any], value: Any, where: str) -> Any:
    if any(isinstance(value, cls) for cls in tags.values()):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {_short(value)}")
    tag = value.get("type", next(iter(tags)))  # the first alternative is the default
    if tag not in tags:
        raise ConfigError(f"{_join(where, 'type')}: expected {' or '.join(repr(t) for t in tags)}, got {tag!r}")
    return _convert(tags[tag], {**value, "type": tag}, where)


def field_type(cls: Any, dotted: str) -> Any:
    """The declared type of ``a.b.c`` inside dataclass ``cls`` (None when no such field); unions with a
    dataclass alternative are followed into it."""
    tp = cls
    for name in dotted.split("."):
        candidates = [tp]
        if get_origin(tp) in (Union, types.UnionType):
            candidates = [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
        dc = next((c for c in candidates if dataclasses.is_dataclass(c) and name in get_type_hints(c)), None)
        if dc is None:
            return None
        tp = get_type_hints(dc)[name]
    return tp


def is_text_type(tp: Any) -> bool:
    """True for ``str`` and ``str | None`` (a value for it is taken literally, not parsed as YAML)."""
    if tp is str:
        return True
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return args == [str]
    return False


def _dataclasses_in(tp: Any) -> list[Any]:
    """The dataclasses a field of type ``tp`` may hold (itself, or the alternatives of a union)."""
    if dataclasses.is_dataclass(tp):
        return [tp]
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
    return []


def _homes_below(tp: Any, key: str, depth: int = 2) -> list[str]:
    """Dotted paths, relative to ``tp``, of the sections below it that have a field ``key``: a key written
    one level too high (``crop`` for ``data.crop``) is answered with where it belongs."""
    found: list[str] = []
    if depth == 0:
        return found
    hints = get_type_hints(tp)
    for f in dataclasses.fields(tp):
        for inner in _dataclasses_in(hints.get(f.name)):
            if key in {g.name for g in dataclasses.fields(inner) if g.init}:
                found.append(f"{f.name}.{key}")
            else:
                found += [f"{f.name}.{h}" for h in _homes_below(inner, key, depth - 1)]
    return sorted(set(found))


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        hints = get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            names = ", ".join(_join(where, k) for k in unknown)
            close = difflib.get_close_matches(str(unknown[0]), list(fields), n=1) if len(unknown) == 1 else []
            homes = _homes_below(tp, str(unknown[0])) if len(unknown) == 1 and not close else []
            # a home is named from the file's top (model.head.feats_channels), without the file name
            homes = [_join(where, h).split(": ", 1)[-1] for h in homes]
            guess = (f"did you mean {close[0]!r}? " if close else f"did you mean {' or '.join(homes)}? " if homes else "")
            raise ConfigError(f"{names}: unknown key; {guess}allowed here: {', '.join(fields)}")
        kwargs = {}
        for name, field in fields.items():
            if name in value:
                kwargs[name] = _convert(hints[name], value[name], _join(where, name))
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{_join(where, name)}: missing required key")
        return tp(**kwargs)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        tags = _tagged_alternatives(tp)
        if tags:
            return _convert_tagged(tags, value, where)
        if isinstance(value, dict):
            # A mapping whose "type" names a tagged alternative is that alternative (model: {type: smp, …}).
            for arg in get_args(tp):
                hint = get_type_hints(arg).get("type") if dataclasses.is_dataclass(arg) else None
                if get_origin(hint) is Literal and value.get("type") in get_args(hint):
                    return _convert(arg, value, where)
            typed = [get_args(get_type_hints(a)["type"])[0] for a in get_args(tp)
                     if dataclasses.is_dataclass(a) and get_origin(get_type_hints(a).get("type")) is Literal]
            if "type" in value and typed:
                raise ConfigError(f"{_join(where, 'type')}: expected {' or '.join(repr(t) for t in typed)} (or no "
                                  f"type, for idrnet's own model config), got {value['type']!r}")
        errors = []
        for arg in get_args(tp):
            try:
                return _convert(arg, value, where)
            except ConfigError as err:
                errors.append((arg, err))
        # A mapping or list can only have meant the one alternative of that shape: its error names the
        # inner key (model.head.dropot), where a summary would print the whole value.
        shaped = [err for arg, err in errors if _accepts_shape(arg, value)]
        if isinstance(value, dict) and len(shaped) > 1:  # untyped mapping: the alternatives without a "type"
            untyped = [err for arg, err in errors if _accepts_shape(arg, value) and "type" not in get_type_hints(arg)]
            shaped = untyped or shaped
        if len(shaped) == 1:
            raise shaped[0]
        raise ConfigError(f"{where}: expected {_describe(tp)}, got {_short(value)}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return None
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        args = get_args(tp)
        fixed = origin is tuple and bool(args) and args[-1] is not Ellipsis
        if not isinstance(value, (list, tuple)):
            count = f" of {len(args)} values" if fixed else ""
            raise ConfigError(f"{where}: expected a list{count}{_example(value, len(args)) if fixed else ''}, got "
                              f"{type(value).__name__} {value!r}")
        if fixed:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values{_example(value, len(args))}, got {len(value)}")
            return tuple(_convert(a, v, f"{where.rstrip(':')}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where.rstrip(':')}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_convert(kt, k, _join(where, k)): _convert(vt, v, _join(where, k)) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        # "8e4" (YAML 1.1 reads an exponent without a dot as text) and 8.0e4 are whole numbers as written
        number = _float_or_none(value) if isinstance(value, str) and "e" in value.lower() else value
        if isinstance(number, float) and number.is_integer() and abs(number) <= 2 ** 53:
            value = int(number)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" (no dot) as a string; accept any float literal.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {tp!r}")


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
