"""What a rule file may say: the pydantic models at the edge where rule YAML comes in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from monitor.match.nodes import FIELDS
from monitor.settings import Cron, Duration, Strict

SEVERITIES = ("info", "low", "medium", "high", "critical")
Severity = Literal["info", "low", "medium", "high", "critical"]
TestCase = str | dict[str, Any]


class RuleTests(Strict):
    # default_factory, not `= []`: pydantic deep-copies a mutable default on every rule
    match: list[TestCase] = Field(default_factory=list)
    no_match: list[TestCase] = Field(default_factory=list)


class AboutModel(Strict):
    """What a rule is about, in words, for semantic relevance (monitor/match/semantic.py)."""

    description: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)


class RuleModel(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str | None = None
    description: str = ""
    severity: Severity = "medium"
    query: str | None = None
    any: list[str] = Field(default_factory=list)
    all: list[str] = Field(default_factory=list)
    none: list[str] = Field(default_factory=list)
    fields: list[Literal[FIELDS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["title", "summary", "body"]
    )
    sources: list[str] = Field(default_factory=lambda: ["*"])
    notify: list[str] | None = None
    cooldown: Duration | None = None
    max_per_hour: int | None = Field(default=None, ge=1)
    digest: Cron | None = None
    mention: str | None = Field(
        default=None, pattern=r"^(here|channel|everyone|[UWS][A-Z0-9]{2,})$"
    )
    tags: list[str] = Field(default_factory=list)
    tests: RuleTests = Field(default_factory=RuleTests)
    about: AboutModel | None = None
    min_similarity: float | None = Field(default=None, ge=-1.0, le=1.0)
    semantic: Literal["gate", "beside"] = "gate"

    @field_validator("fields")
    @classmethod
    def _some_fields(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one field")
        return value

    @model_validator(mode="after")
    def _about_and_threshold(self) -> RuleModel:
        # the threshold depends on the model and the rule, so there is no default to guess
        if self.about is not None and self.min_similarity is None:
            raise ValueError("`about` needs `min_similarity` (e.g. 0.45; `eval` helps choose it)")
        if self.about is None and self.min_similarity is not None:
            raise ValueError("`min_similarity` needs `about` (a description and examples)")
        return self
