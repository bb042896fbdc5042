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


#: What ends a line for SageMaker's API patterns: botocore's ContainerArgument and HyperParameterValue are `.*`, and
#: `.` matches no line terminator (Java's and ECMAScript's rule; \u0085 for Java), so a job refuses such an argument.
LINE_BREAKS = "\n\r\u0085\u2028\u2029"


def check_one_line(value: str) -> str:
    """A value SageMaker gets as a job argument or hyperparameter: one line."""
    if any(ch in LINE_BREAKS for ch in value):
        raise ValueError("has a line break; SageMaker passes it to the job as one argument, which must be one line "
                         "(allowed: text on one line)")
    return value


#: A config value that becomes a processing-job argument or a hyperparameter.
one_line = AfterValidator(check_one_line)


def check_description(value: str) -> str:
    """SageMaker's EntityDescription pattern, [\\p{L}\\p{M}\\p{Z}\\p{S}\\p{N}\\p{P}]* (botocore): no control or format
    characters, so no line break or tab."""
    import unicodedata

    bad = next((ch for ch in value if unicodedata.category(ch)[0] == "C"), None)
    if bad is not None:
        raise ValueError(f"has the character {bad!r}, which SageMaker's descriptions refuse (allowed: letters, marks, "
                         "numbers, punctuation, symbols and spaces, on one line)")
    return value
