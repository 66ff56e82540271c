"""A forecaster's fitted view of a series: its column roles and the scalers of its columns.

:class:`SeriesScaling` is fitted on the training rows only (``fit``), turns any series with
the same columns into the scaled arrays the network reads (``arrays``), and round-trips
through a dict, saved in a run directory as ``forecast.json``::

    >>> import numpy as np
    >>> from rnnkit.data.series import from_array
    >>> s = SeriesScaling.fit(from_array(np.arange(10.0)), train_end=8, scaler="minmax")
    >>> s.arrays(from_array(np.arange(10.0)))[0][-1].tolist()  # row 9 on rows 0..7's scale
    [1.2857142857142858]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.data.scalers import Scaler, make_scaler, scaler_from_dict
from rnnkit.data.series import TimeSeries, calendar_features

__all__ = ["FORMAT", "LEGACY_FORMAT", "SeriesScaling"]

FORMAT = "rnnkit.forecast/2"
"""``forecast.json`` of a run: column roles and fitted scalers (the configs are in config.json)."""
LEGACY_FORMAT = "rnnkit.forecast/1"
"""``forecast.json`` before the one run life cycle: configs, scalers, columns, the data source."""


@dataclass
class SeriesScaling:
    """Column roles (``target``, ``past``, ``future`` names) and their fitted scalers."""

    columns: dict[str, tuple[str, ...]]
    target_scaler: Scaler
    cov_scaler: Scaler
    """Scales the past and known-future covariates together, ``(P + F)`` columns."""

    @classmethod
    def fit(cls, series: TimeSeries, *, train_end: int, scaler: str) -> SeriesScaling:
        """Fit ``scaler`` (minmax, standard, none) on rows ``0:train_end`` of ``series``."""
        columns = {
            "target": series.target_names,
            "past": series.past_names,
            "future": series.future_names,
        }
        target = make_scaler(scaler).fit(series.target[:train_end])
        cov = np.concatenate([series.past, series.future], axis=1)[:train_end]  # (T, P + F)
        covs = make_scaler(scaler if cov.shape[1] else "none")
        covs.fit(cov if cov.shape[1] else np.zeros((1, 0)))
        return cls(columns, target, covs)

    def arrays(self, series: TimeSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled ``target (T, C)``, ``past (T, P)``, ``future (T, F)`` of ``series``.

        Raises:
            ValueError: the series' columns differ from the fitted ones.
        """
        want = (self.columns["target"], self.columns["past"], self.columns["future"])
        got = (series.target_names, series.past_names, series.future_names)
        if tuple(map(tuple, want)) != got:
            raise ValueError(f"series columns {got} differ from the fitted ones {want}")
        cov = self.cov_scaler.transform(np.concatenate([series.past, series.future], axis=1))
        p = series.past.shape[1]
        return self.target_scaler.transform(series.target), cov[:, :p], cov[:, p:]

    def horizon_future(self, series: TimeSeries, k: int, future: Any = None) -> np.ndarray:
        """Scaled known-future covariates ``(K, F)`` of the ``k`` rows after ``series``.

        ``future``: ``(K, F_given)`` values of the user's known-future columns (calendar
        features are generated from the timestamps).
        """
        given = series.n_given_future
        if given and future is None:
            raise ValueError(
                f"the model uses {given} known-future covariate(s) {series.future_names[:given]};"
                f" pass `future` with their values for the next {k} rows"
            )
        parts = [np.asarray(future, dtype=np.float64).reshape(k, given)] if given else []
        if series.calendar:
            parts.append(calendar_features(series.future_index(k), series.calendar)[0])
        fut = np.concatenate(parts, axis=1) if parts else np.zeros((k, 0))  # (K, F)
        past = np.zeros((k, series.past.shape[1]))  # (K, P): placeholders, dropped below
        return self.cov_scaler.transform(np.concatenate([past, fut], axis=1))[:, past.shape[1] :]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ``format`` :data:`FORMAT`."""
        return {
            "format": FORMAT,
            "columns": {k: list(v) for k, v in self.columns.items()},
            "target_scaler": self.target_scaler.to_dict(),
            "cov_scaler": self.cov_scaler.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesScaling:
        """Rebuild from :meth:`to_dict` (or a legacy ``forecast.json``, which holds the same
        keys beside its configs)."""
        if d.get("format") not in (FORMAT, LEGACY_FORMAT):
            raise ValueError(
                f"forecast.json `format` must be {FORMAT!r} (or {LEGACY_FORMAT!r}), "
                f"got {d.get('format')!r}"
            )
        return cls(
            {k: tuple(v) for k, v in d["columns"].items()},
            scaler_from_dict(d["target_scaler"]),
            scaler_from_dict(d["cov_scaler"]),
        )
