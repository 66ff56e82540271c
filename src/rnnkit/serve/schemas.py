"""The API's request and response bodies (pydantic), which FastAPI turns into the OpenAPI
page at ``/docs``. Unknown fields and wrong types are refused (422, naming the field);
the limits that depend on the server's settings are checked by :mod:`rnnkit.serve.handlers`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClassifyRequest",
    "ClassifyResponse",
    "ForecastRequest",
    "ForecastResponse",
    "GenerateRequest",
    "GenerateResponse",
    "Prediction",
    "TranslateRequest",
    "TranslateResponse",
    "TranslationOut",
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="A model name from GET /v1/models.")


class GenerateRequest(_Request):
    """Continue a prompt with a language model (``lm`` run)."""

    prompt: str = Field(min_length=1, description="The text to continue (in the vocabulary).")
    max_tokens: int = Field(100, ge=1, description="Tokens to generate (<= the server's limit).")
    temperature: float = Field(0.8, ge=0.0, le=100.0, description="0 is greedy.")
    top_k: int | None = Field(None, ge=1, description="Sample among the k most likely tokens.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    seed: int | None = Field(0, ge=0, description="Same seed, same text; null: random.")
    stop: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None,
        max_length=8,
        description="Stop as soon as the generated text contains one of these (at most 8); "
        "the text is cut before it.",
    )
    stream: bool = Field(False, description="Answer with server-sent events, one per token.")


class GenerateResponse(BaseModel):
    model: str
    text: str = Field(description="The prompt and its continuation (cut before a stop string).")
    generated: str = Field(description="The continuation alone.")
    tokens: list[int] = Field(description="The generated token ids (a stop string's included).")
    finish_reason: Literal["length", "stop"] = Field(
        description="`length`: `max_tokens` reached; `stop`: a stop string was generated."
    )


class TranslateRequest(_Request):
    """Translate sentences with a sequence-to-sequence model (``translate`` run)."""

    text: str | list[str] = Field(description="A sentence or a list of them.")
    method: Literal["beam", "greedy", "sample"] = "beam"
    beam_size: int = Field(5, ge=1, le=32)
    n_best: int = Field(3, ge=1, le=32, description="Hypotheses returned (<= beam_size).")
    temperature: float = Field(1.0, ge=0.0, le=100.0, description="For method=sample.")
    seed: int = Field(0, ge=0, description="For method=sample.")
    attention: bool = Field(True, description="Return the attention matrix of each sentence.")


class Alternative(BaseModel):
    text: str
    score: float


class TranslationOut(BaseModel):
    source: str
    text: str
    score: float = Field(description="Summed log-probability.")
    alternatives: list[Alternative] = Field(description="The n-best list after the first.")
    source_tokens: list[str]
    tokens: list[str]
    attention: list[list[float]] | None = Field(
        None, description="(len(tokens) [+ 1 for <eos>], len(source_tokens)) weights."
    )
    parts: list[TranslationOut] = Field(
        default_factory=list, description="Per sentence, when the input held several."
    )


class TranslateResponse(BaseModel):
    model: str
    translations: list[TranslationOut]


class ForecastRequest(_Request):
    """Forecast the horizon after a series with a forecaster (``forecast`` run)."""

    series: list[float] | list[list[float]] | None = Field(
        None, description="Rows oldest first: numbers (one column) or rows of the model's columns."
    )
    csv: str | None = Field(None, description="CSV text in the columns the run trained on.")
    future: list[list[float]] | None = Field(
        None, description="Known-future covariates of the horizon rows, if the model has any."
    )


class ForecastResponse(BaseModel):
    model: str
    names: list[str] = Field(description="The forecast columns.")
    index: list[str] = Field(description="Times (or steps) of the horizon rows.")
    mean: list[list[float]] = Field(description="(K, C) forecasts.")
    lower: list[list[float]] | None = Field(description="(K, C) lower interval bound or null.")
    upper: list[list[float]] | None
    level: float | None = Field(description="Coverage of the intervals (e.g. 0.9).")
    history: list[list[float]] = Field(description="The last input rows' targets, for plots.")


class ClassifyRequest(_Request):
    """Classify texts or series with a classifier (``classify`` run)."""

    texts: list[str] | None = Field(None, description="For a text model.")
    series: list[list[float] | list[list[float]]] | None = Field(
        None, description="For a series model: each a list of numbers or of feature rows."
    )


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class ClassifyResponse(BaseModel):
    model: str
    labels: list[str]
    predictions: list[Prediction]
