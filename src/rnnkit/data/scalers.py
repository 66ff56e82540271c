"""Per-column scalers for series: fit on the training part only, invert every reported number.

Both scalers are affine, ``z = (x - shift) / scale`` per column, so a Gaussian interval in
scaled units maps to an interval in data units by the same formula (with ``scale > 0``).
A scaler round-trips through a plain dict (:meth:`to_dict` / :func:`scaler_from_dict`)
so a run directory can rebuild it without pickle.

>>> import numpy as np
>>> s = MinMaxScaler().fit(np.array([[0.0], [10.0]]))
>>> s.transform(np.array([[5.0]])).tolist()
[[0.5]]
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "SCALERS",
    "IdentityScaler",
    "MinMaxScaler",
    "Scaler",
    "StandardScaler",
    "make_scaler",
    "scaler_from_dict",
]


class Scaler:
    """Base class: an affine per-column map ``z = (x - shift) / scale``.

    Attributes:
        shift: ``(C,)`` subtracted per column (set by :meth:`fit`).
        scale: ``(C,)`` divided per column, always > 0 (set by :meth:`fit`).
    """

    name = "base"

    def __init__(self) -> None:
        self.shift: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    # -- the per-kind part -------------------------------------------------------------
    def _fit_params(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------
    def fit(self, x: np.ndarray) -> Scaler:
        """Learn shift and scale from ``x: (T, C)`` (the training rows only)."""
        x = _as_2d(x, "x")
        if x.shape[0] == 0:
            raise ValueError("`x` to fit a scaler must have at least 1 row, got 0")
        if not np.all(np.isfinite(x)):
            raise ValueError("`x` to fit a scaler contains NaN or inf; fill the series first")
        shift, scale = self._fit_params(x.astype(np.float64))
        # A constant column would divide by zero: leave it unscaled (scale 1).
        scale = np.where(scale > 1e-12, scale, 1.0)
        self.shift, self.scale = shift, scale
        return self

    def _check(self, x: np.ndarray, name: str) -> np.ndarray:
        if self.shift is None or self.scale is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train_rows) first")
        if x.shape[-1] != self.shift.shape[0]:
            raise ValueError(
                f"`{name}` has {x.shape[-1]} columns, the scaler was fitted on "
                f"{self.shift.shape[0]}"
            )
        return x

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x: (..., C)`` (last axis is columns) to model units."""
        x = self._check(np.asarray(x, dtype=np.float64), "x")
        return (x - self.shift) / self.scale

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Map ``z: (..., C)`` in model units back to data units."""
        z = self._check(np.asarray(z, dtype=np.float64), "z")
        return z * self.scale + self.shift

    def inverse_scale(self, s: np.ndarray) -> np.ndarray:
        """Map a standard deviation ``s: (..., C)`` in model units back to data units."""
        s = self._check(np.asarray(s, dtype=np.float64), "s")
        return s * self.scale

    def to_dict(self) -> dict:
        """A JSON-ready description (kind and fitted parameters)."""
        return {
            "kind": self.name,
            "shift": None if self.shift is None else self.shift.tolist(),
            "scale": None if self.scale is None else self.scale.tolist(),
        }


class MinMaxScaler(Scaler):
    """Map each column's training range onto ``[0, 1]`` (the classic stock example)."""

    name = "minmax"

    def _fit_params(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = x.min(axis=0), x.max(axis=0)
        return lo, hi - lo


class StandardScaler(Scaler):
    """Zero mean and unit standard deviation per column on the training rows."""

    name = "standard"

    def _fit_params(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.mean(axis=0), x.std(axis=0)


class IdentityScaler(Scaler):
    """No scaling (``shift = 0``, ``scale = 1``), for data already in model units."""

    name = "none"

    def _fit_params(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(x.shape[1]), np.ones(x.shape[1])


SCALERS: dict[str, type[Scaler]] = {
    "minmax": MinMaxScaler,
    "standard": StandardScaler,
    "none": IdentityScaler,
}


def make_scaler(kind: str) -> Scaler:
    """A new, unfitted scaler by name: ``"minmax"``, ``"standard"`` or ``"none"``."""
    if kind not in SCALERS:
        raise ValueError(f"`scaler` must be one of {sorted(SCALERS)}, got {kind!r}")
    return SCALERS[kind]()


def scaler_from_dict(d: dict) -> Scaler:
    """Rebuild a scaler written by :meth:`Scaler.to_dict`."""
    scaler = make_scaler(d["kind"])
    if d.get("shift") is not None:
        scaler.shift = np.asarray(d["shift"], dtype=np.float64)
        scaler.scale = np.asarray(d["scale"], dtype=np.float64)
    return scaler


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]  # (T,) -> (T, 1)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be (T, C) or (T,), got shape {x.shape}")
    return x
