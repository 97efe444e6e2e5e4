"""What a reporter may submit, validated the same way for the JSON API and the HTML form."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from service.inputs import MULTILINE, InputModel
from service.tips.taxonomy import Allegation

__all__ = ["LIMITS", "SubjectIn", "TipSubmission"]

# Published through GET /api/v1/intake/form so clients can check before sending.
LIMITS = {
    "narrative_max": 20_000,
    "narrative_min": 20,
    "subjects_max": 10,
    "contact_max": 2_000,
    "message_max": 10_000,
    "file_max_bytes": 100 << 20,
    "tip_max_bytes": 250 << 20,
    "files_max": 20,
}


class SubjectIn(InputModel):
    """An officer or unit the tip is about. At least one of name, badge or unit."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200)
    badge: str | None = Field(default=None, max_length=50)
    rank: str | None = Field(default=None, max_length=100)
    unit: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _identifies_someone(self) -> SubjectIn:
        if not (self.name or self.badge or self.unit):
            raise ValueError("a subject needs a name, a badge or a unit")
        return self


class TipSubmission(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agency: str = Field(min_length=1, max_length=64)
    allegations: list[Allegation] = Field(min_length=1, max_length=len(Allegation))
    narrative: Annotated[str, MULTILINE] = Field(
        min_length=LIMITS["narrative_min"], max_length=LIMITS["narrative_max"]
    )
    subjects: list[SubjectIn] = Field(default_factory=list, max_length=LIMITS["subjects_max"])
    # Approximate on purpose ("last March", "2026-10"): a reporter may not know, or want to say.
    incident_date: str | None = Field(default=None, max_length=100)
    location: str | None = Field(default=None, max_length=300)
    threat_to_life: bool = False
    reporter_at_risk: bool = False
    senior_official: bool = False
    contact: Annotated[str | None, MULTILINE] = Field(
        default=None, max_length=LIMITS["contact_max"]
    )
    language: Literal["en", "es"] = "en"
    remove_metadata: bool = True

    @model_validator(mode="after")
    def _unique_allegations(self) -> TipSubmission:
        self.allegations = list(dict.fromkeys(self.allegations))
        return self

    def content(self) -> dict[str, object]:
        """What goes into the encrypted report file (contact details go to their own file)."""
        return self.model_dump(mode="json", exclude={"contact", "remove_metadata"})
