"""The tip form's fields: names, reading them into a `TipSubmission`, and errors per field.

Errors are codes (`required`, `too_short`, `too_long`, `invalid`, `incomplete`, `unknown`,
`must_be_empty`), keyed by the form field they belong to; the templates turn them into sentences
in the page's language. Nothing here echoes a submitted value into an error.

Imports pydantic and `service` only (no web framework), so it is easy to test on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from service.errors import InvalidInput, Malformed
from service.inputs import CONTROL_CHARACTERS
from service.tips.schemas import LIMITS, TipSubmission

__all__ = [
    "FLAGS",
    "HONEYPOT",
    "MAXIMA",
    "SUBJECT_PARTS",
    "SUBJECT_SLOTS",
    "TEXT_FIELDS",
    "Fields",
    "checked",
    "error_field",
    "one",
    "remove_metadata_choice",
    "subject_field",
    "to_submission",
]

Fields = Mapping[str, Sequence[str]]
SUBJECT_SLOTS = 3
SUBJECT_PARTS = ("name", "badge", "rank", "unit")
FLAGS = ("threat_to_life", "reporter_at_risk", "senior_official")
HONEYPOT = "website"
# The longest answer each field takes (mirrors service.tips.schemas; shown as `maxlength`).
MAXIMA = {
    "agency": 64,
    "narrative": LIMITS["narrative_max"],
    "incident_date": 100,
    "location": 300,
    "contact": LIMITS["contact_max"],
    "name": 200,
    "badge": 50,
    "rank": 100,
    "unit": 200,
}


def subject_field(part: str, slot: int) -> str:
    """`subject_name_1`, `subject_badge_2`, ... (slots count from 1, as the reporter sees them)."""
    return f"subject_{part}_{slot}"


TEXT_FIELDS = (
    "agency",
    "narrative",
    "incident_date",
    "location",
    "contact",
    *(subject_field(p, n) for n in range(1, SUBJECT_SLOTS + 1) for p in SUBJECT_PARTS),
)


def one(fields: Fields, name: str) -> str:
    """The single value of a text field, '' when absent; two values is a broken form."""
    values = fields.get(name, ())
    if len(values) > 1:
        raise Malformed(f"{name}: sent more than once")
    return values[0] if values else ""


def checked(fields: Fields, name: str) -> bool:
    """A checkbox sends its value only when ticked."""
    return bool(fields.get(name))


def remove_metadata_choice(fields: Fields) -> bool:
    """Ticked by default. An unticked box sends nothing, so its absence means "no" only when the
    hidden marker shows the box was on the form; a client without the marker gets the default."""
    if not checked(fields, "remove_metadata_present"):
        return True
    return checked(fields, "remove_metadata")


def _subjects(fields: Fields) -> tuple[list[dict[str, str | None]], list[int]]:
    """Filled subject slots, and the slot number each came from (blank slots are skipped)."""
    subjects: list[dict[str, str | None]] = []
    slots: list[int] = []
    for slot in range(1, SUBJECT_SLOTS + 1):
        values = {p: one(fields, subject_field(p, slot)).strip() for p in SUBJECT_PARTS}
        if any(values.values()):
            subjects.append({p: v or None for p, v in values.items()})
            slots.append(slot)
    return subjects, slots


def error_field(name: str) -> str:
    """Where the form shows an error about field `name`: a subject's parts share their group's."""
    for slot in range(1, SUBJECT_SLOTS + 1):
        if name in (subject_field(part, slot) for part in SUBJECT_PARTS):
            return f"subject_{slot}"
    return name


def _code(error_type: str, field: str) -> str:
    if error_type in ("missing", "string_too_short", "too_short"):
        return "too_short" if field == "narrative" else "required"
    if error_type in ("string_too_long", "too_long"):
        return "too_long"
    if error_type == CONTROL_CHARACTERS:
        return CONTROL_CHARACTERS
    if field.startswith("subject_") and error_type == "value_error":
        return "incomplete"
    return "invalid"


def _field_errors(exc: ValidationError, slots: Sequence[int]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc", ())
        field = str(loc[0]) if loc else "form"
        if field == "subjects" and len(loc) > 1 and isinstance(loc[1], int) and loc[1] < len(slots):
            field = f"subject_{slots[loc[1]]}"
        errors.setdefault(field, _code(str(error.get("type", "")), field))
    return errors


def to_submission(fields: Fields, *, lang: str) -> TipSubmission:
    """Read the form into a submission, or raise `InvalidInput` with a code per field."""
    if one(fields, HONEYPOT).strip():
        # Only a robot fills a field that people cannot see (its label says to leave it empty).
        raise InvalidInput("filled in by a program", fields={HONEYPOT: "must_be_empty"})
    subjects, slots = _subjects(fields)
    text = {name: one(fields, name).strip() for name in ("incident_date", "location", "contact")}
    data = {
        "agency": one(fields, "agency").strip(),
        "allegations": list(fields.get("allegations", ())),
        "narrative": one(fields, "narrative"),
        "subjects": subjects,
        **{name: value or None for name, value in text.items()},
        **{flag: checked(fields, flag) for flag in FLAGS},
        "language": lang,
        "remove_metadata": remove_metadata_choice(fields),
    }
    try:
        return TipSubmission.model_validate(data)
    except ValidationError as exc:
        errors = _field_errors(exc, slots)
        raise InvalidInput("invalid fields: " + ", ".join(sorted(errors)), fields=errors) from None
