"""Typed settings: dataclass fields that carry their help text and domain, and their validation.

A zoo recipe (and each group of run or data options) is a dataclass whose fields are made with
:func:`setting`. :func:`specs` describes every field (name, type, default, help, choices), which
is what the command line is generated from; :func:`validate` checks and normalises values (lists
become tuples, ints become floats where a float is wanted) and raises :class:`Pix2GanError` naming
the setting, the value and the fix.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from .errors import Pix2GanError

USES = ("train", "evaluate", "sample")


def setting(default: Any, help: str, *, choices: tuple | None = None, min: float | None = None,
            max: float | None = None, below: float | None = None, flag: str | None = None,
            negative: str | None = None, uses: tuple[str, ...] = ("train",)) -> Any:
    """A dataclass field with its help text and domain.

    ``choices`` (for str settings), ``min`` / ``max`` (inclusive) and ``below`` (exclusive upper
    bound) define the domain; non-finite floats are always refused. ``flag`` overrides the
    command-line name (default ``--name-with-dashes``); ``negative`` names the flag that sets a
    bool to False (default ``--no-<flag>``). ``uses`` lists the commands the setting matters to
    (a recipe's settings always shape training; those also listed for ``evaluate`` can be
    given there).
    """
    metadata = {"help": help, "choices": choices, "min": min, "max": max, "below": below, "flag": flag,
                "negative": negative, "uses": tuple(uses)}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for a sequence default")
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Spec:
    """One setting as the command line and the model card see it."""
    name: str
    kind: type            # int, float, str, bool or tuple
    item: type | None     # element type of a tuple setting
    optional: bool        # None is allowed
    default: Any
    help: str
    choices: tuple | None
    min: float | None
    max: float | None
    below: float | None
    flag: str
    negative: str | None
    uses: tuple[str, ...]

    def describe_type(self) -> str:
        text = (f"{self.item.__name__} ..." if self.kind is tuple else self.kind.__name__)
        return text + (" or none" if self.optional else "")


def _unwrap(hint) -> tuple[type, type | None, bool, tuple | None]:
    """(kind, item type, optional, literal choices) of a resolved type hint."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) != 1:
            raise TypeError(f"unsupported setting type {hint}")
        hint, origin = args[0], typing.get_origin(args[0])
    if origin is Literal:
        values = typing.get_args(hint)
        return type(values[0]), None, optional, tuple(values)
    if origin is tuple:
        return tuple, typing.get_args(hint)[0], optional, None
    if hint in (int, float, str, bool):
        return hint, None, optional, None
    raise TypeError(f"unsupported setting type {hint}")


def specs(cls, use: str | None = None) -> list[Spec]:
    """Every field of dataclass ``cls`` (class or instance) as a :class:`Spec`, in field order;
    with ``use``, only those that matter to that command ('train', 'evaluate', ...)."""
    cls = cls if isinstance(cls, type) else type(cls)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kind, item, optional, literal = _unwrap(hints[f.name])
        meta = f.metadata
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        out.append(Spec(f.name, kind, item, optional, f.default, meta.get("help", ""),
                        meta.get("choices") or literal, meta.get("min"), meta.get("max"), meta.get("below"),
                        flag, meta.get("negative"), meta.get("uses", ("train",))))
    return out if use is None else [s for s in out if use in s.uses]


def names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _problem(spec: Spec, value: Any) -> str:
    def bad(text):
        return f"{spec.name}={value!r} {text}"
    if value is None:
        return "" if spec.optional else bad("is not allowed: give a value")
    if spec.kind is tuple:
        def fits(v):
            return isinstance(v, bool) if spec.item is bool else isinstance(v, spec.item) and not isinstance(v, bool)
        if not isinstance(value, tuple) or not all(map(fits, value)):
            return bad(f"must be a sequence of {spec.item.__name__}")
        if spec.item is str and spec.choices:
            unknown = [v for v in value if v not in spec.choices]
            if unknown:
                return bad(f"has unknown value(s) {', '.join(map(str, unknown))}: use some of "
                           f"{', '.join(map(str, spec.choices))}")
        values = value
    else:
        if spec.kind is bool and not isinstance(value, bool):
            return bad("must be True or False")
        if spec.kind in (int, float) and (isinstance(value, bool) or not isinstance(value, spec.kind)):
            return bad(f"must be a number ({spec.kind.__name__})")
        if spec.kind is str and not isinstance(value, str):
            return bad("must be a string")
        if spec.choices and value not in spec.choices:
            return bad(f"is not one of {', '.join(map(str, spec.choices))}")
        values = (value,)
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            return bad("must be a finite number")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if spec.min is not None and v < spec.min:
                return bad(f"must be at least {spec.min:g}")
            if spec.max is not None and v > spec.max:
                return bad(f"must be at most {spec.max:g}")
            if spec.below is not None and v >= spec.below:
                return bad(f"must be below {spec.below:g}")
    return ""


def normalise(spec: Spec, value: Any) -> Any:
    """JSON and command-line friendly coercions: lists to tuples, ints to floats where wanted."""
    if spec.kind is tuple and isinstance(value, list):
        value = tuple(value)
    if spec.kind is tuple and spec.item is float and isinstance(value, tuple):
        value = tuple(float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value)
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def validate(obj) -> None:
    """Normalise and check every field of the (possibly frozen) dataclass instance ``obj``."""
    for spec in specs(obj):
        value = normalise(spec, getattr(obj, spec.name))
        object.__setattr__(obj, spec.name, value)
        problem = _problem(spec, value)
        if problem:
            raise Pix2GanError(problem, argument=spec.name)


def build(cls, values: dict, what: str):
    """``cls(**values)``, refusing unknown names with the list of valid ones."""
    valid = names(cls)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise Pix2GanError(f"unknown {what} {', '.join(unknown)}: valid ones are {', '.join(valid)}",
                           argument=unknown[0])
    return cls(**values)


def as_dict(obj) -> dict:
    """The fields of ``obj`` as plain JSON-ready values (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def override(base: type, name: str, default: Any) -> Any:
    """The field ``name`` of dataclass ``base`` with another default (help and domain kept), for
    a subclass that changes a default: ``epochs: int = override(Recipe, "epochs", 200)``."""
    found = {f.name: f for f in dataclasses.fields(base)}[name]
    return dataclasses.field(default=default, metadata=found.metadata)
