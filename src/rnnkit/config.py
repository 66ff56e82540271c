"""Validation shared by every config: unknown keys and wrong types are errors.

Configs are frozen dataclasses (``TrainConfig``, ``LMConfig``, ``PairsConfig`` ...). Each
one's ``from_dict`` is :func:`config_from_dict`, and its ``__post_init__`` starts with
:func:`check_types`; the value checks (``hidden_size`` > 0, a known ``cell``) stay with the
config. Standard library only, so ``rnnkit.scratch`` and the CLI can use it without torch::

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo:
    ...     epochs: int = 1
    ...     lr: float = 0.1
    ...     def __post_init__(self) -> None:
    ...         check_types(self)
    >>> config_from_dict(Demo, {"epochs": 3, "lr": 1})
    Demo(epochs=3, lr=1.0)
    >>> config_from_dict(Demo, {"epoch": 3})
    Traceback (most recent call last):
    ...
    ValueError: unknown Demo keys ['epoch']; expected some of ['epochs', 'lr']
    unknown Demo key 'epoch'; did you mean 'epochs'?
    >>> Demo(epochs=True)
    Traceback (most recent call last):
    ...
    rnnkit.config.ConfigTypeError: Demo `epochs` must be int, got True (bool)

What an annotation admits (:func:`check_types`):

- ``int``: an int, never a bool; ``float``: a float or an int (stored as a float), never a
  bool; ``bool``, ``str`` and other classes: ``isinstance``;
- ``X | None``, ``Optional[X]``, ``Union[X, Y]``: any member (an exact match is kept as it is,
  so ``int | float`` leaves an int an int);
- ``Literal["a", "b"]``: one of the values, of the same type (``True`` is not ``1``);
- ``tuple[X, ...]``, ``tuple[X, Y]``, ``list[X]``: a list or tuple (JSON has only lists; a
  string is not a sequence here) whose items match, stored as the annotated container;
- other generics (``dict[str, int]``): ``isinstance`` of the container only; ``Any``: anything.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["ConfigTypeError", "check_keys", "check_types", "config_from_dict"]

C = TypeVar("C")

_NO = object()  # "the value does not fit the annotation" (None is a value that may fit)


class ConfigTypeError(TypeError, ValueError):
    """A config field holds a value of the wrong type.

    A ``TypeError``; also a ``ValueError``, because some configs reported wrong types as
    ``ValueError`` before they shared this check, and callers catching either keep working.
    """


def check_keys(keys: Iterable[Any], known: Iterable[str], *, what: str) -> None:
    """Raise ``ValueError`` naming every key of ``keys`` not in ``known``.

    The message lists the unknown keys and the known ones, then a "did you mean" line for
    each unknown key with a close match (``difflib``). ``what`` names the owner of the keys
    in the message: ``"TrainConfig"``, ``"model"``.
    """
    names = sorted(known)
    unknown = sorted((k for k in keys if k not in names), key=str)
    if not unknown:
        return
    lines = [f"unknown {what} keys {unknown}; expected some of {names}"]
    for key in unknown:
        close = difflib.get_close_matches(str(key), names, n=1)
        if close:
            lines.append(f"unknown {what} key {key!r}; did you mean {close[0]!r}?")
    raise ValueError("\n".join(lines))


def config_from_dict(cls: type[C], d: Mapping[str, Any], *, what: str | None = None) -> C:
    """``cls(**d)`` for a dataclass ``cls``, after :func:`check_keys` on ``d``.

    ``what`` names the config in the error (default: the class name). A ``d`` that is not a
    mapping is a ``TypeError``; the field values are checked by ``cls`` itself.
    """
    what = what or cls.__name__
    if not isinstance(d, Mapping):
        raise TypeError(f"{what} must be given as a mapping of its fields, got {type(d).__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    names += getattr(cls, "FLAT_KEYS", ())  # a nested spec's keys, also taken flat
    check_keys(d, names, what=what)
    return cls(**d)


def check_types(config: Any) -> None:
    """Raise :class:`ConfigTypeError` naming the first field whose value has the wrong type.

    Call it first in a frozen dataclass's ``__post_init__``. Lossless JSON forms are stored
    as the annotation says (an int in a ``float`` field becomes a float, a list in a
    ``tuple[str, ...]`` field a tuple), so a config read back from JSON equals the original.
    """
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value, hint = getattr(config, field.name), hints[field.name]
        fitted = _fit(value, hint)
        if fitted is _NO:
            raise ConfigTypeError(
                f"{type(config).__name__} `{field.name}` must be {_describe(hint)}, "
                f"got {value!r} ({type(value).__name__})"
            )
        if fitted is not value:
            object.__setattr__(config, field.name, fitted)  # frozen: set once, here


def _fit(value: Any, hint: Any) -> Any:
    """``value`` as a field annotated ``hint`` stores it, or ``_NO`` if it does not fit."""
    if hint is Any:
        return value
    if hint is None or hint is type(None):
        return value if value is None else _NO
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        fits = [_fit(value, arg) for arg in args]
        exact = [f for f in fits if f is value]
        converted = [f for f in fits if f is not _NO]
        return exact[0] if exact else converted[0] if converted else _NO
    if origin is typing.Literal:
        ok = any(value == a and type(value) is type(a) for a in args)
        return value if ok else _NO
    if origin in (tuple, list):
        return _fit_sequence(value, origin, args)
    if origin is not None:  # dict[str, int], Callable[...]: the container only
        return value if isinstance(value, origin) else _NO
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _NO
        return value if isinstance(value, float) else float(value)
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if isinstance(hint, type):
        return value if isinstance(value, hint) else _NO
    raise TypeError(f"check_types cannot check the annotation {hint!r}")


def _fit_sequence(value: Any, origin: type, args: tuple[Any, ...]) -> Any:
    """A list or tuple whose items fit ``args`` of ``tuple[X, ...]``, ``tuple[X, Y]``, ``list[X]``.

    Stored as ``origin``; ``value`` itself when it already is one and no item changed.
    """
    if not isinstance(value, (list, tuple)):
        return _NO
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        item_hints = [args[0]] * len(value)
    else:  # tuple[X, Y]: one item per annotation (tuple[()]: none)
        item_hints = list(args)
    if len(item_hints) != len(value):
        return _NO
    items = [_fit(v, h) for v, h in zip(value, item_hints, strict=True)]
    if any(item is _NO for item in items):
        return _NO
    if type(value) is origin and all(a is b for a, b in zip(items, value, strict=True)):
        return value
    return origin(items)


def _describe(hint: Any) -> str:
    """``int | None`` -> ``"int or None"``; ``Literal['a', 'b']`` -> ``"one of 'a', 'b'"``."""
    if hint is None or hint is type(None):
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is None and isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")
