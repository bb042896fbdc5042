"""Building blocks every config model shares: strict, frozen models and range validators."""

from __future__ import annotations

from pydantic import AfterValidator, BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every config block: unknown keys are typos (refused), values are frozen once validated, no coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def int_range(lo: int, hi: int, note: str = ""):
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"must be an integer in {lo}..{hi}{note}")
        return value

    return AfterValidator(check)


def one_of(choices: tuple[int, ...]):
    def check(value: int) -> int:
        if value not in choices:
            raise ValueError(f"allowed: one of {', '.join(map(str, choices))}")
        return value

    return AfterValidator(check)
