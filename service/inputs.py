"""Text from callers: control characters are refused in every field, with a code naming it.

PostgreSQL refuses NUL in text (a DataError, which was a 500), and other control characters have
no business in a name, a badge or a username. Single-line text takes none (C0 and DEL); free text
that may run over several lines (`MultiLine`) also takes tab, newline and carriage return.

`InputModel` is the base of every request model: each of its string fields, and the strings in
its lists and dicts, are checked, so a field added later is covered without thinking of it.
Routes use `control_characters_in` for forms, multipart parts and query strings.

Imports pydantic only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "CONTROL_CHARACTERS",
    "MULTILINE",
    "InputModel",
    "MultiLine",
    "control_characters_in",
]

# The error code, in JSON details (`invalid fields: username`) and beside a page's field.
CONTROL_CHARACTERS: Final = "control_characters"
_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f]")
_MULTI_LINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MultiLine:
    """Marker for `Annotated[str, MULTILINE]`: free text that may hold tabs and line breaks."""

    def __repr__(self) -> str:
        return "MULTILINE"


MULTILINE: Final = MultiLine()


def control_characters_in(value: str, *, multiline: bool = False) -> bool:
    return (_MULTI_LINE if multiline else _SINGLE_LINE).search(value) is not None


def _strings(value: Any) -> Iterable[str]:
    """The strings in a field's value; nested models check their own fields."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)


class InputModel(BaseModel):
    """A request body: unknown fields and control characters refused."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        multiline = field is not None and any(isinstance(m, MultiLine) for m in field.metadata)
        if any(control_characters_in(s, multiline=multiline) for s in _strings(value)):
            raise PydanticCustomError(CONTROL_CHARACTERS, "control characters are not accepted")
        return value
