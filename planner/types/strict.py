"""``NoBoolInts``: a base model whose fields take the JSON types its schema states (#18).

Pydantic's lax mode reads ``true``/``false`` as 1/0 for an ``int`` or ``float`` field (``"zero": false``
would mean ZeRO-0), ``0``/``1``/``"yes"`` as a bool and ``"64"`` as a number, while the published
schema (planner/interfaces/http/openapi.json) says number, boolean, number: a request the schema calls
invalid must be refused (schemathesis' negative-data check). So number fields refuse booleans and
strings, bool fields refuse anything but a boolean. A field that reads units from a string (``"13B"``,
``"30d"``: a BeforeValidator whose schema input admits a string) keeps taking strings.
"""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel, BeforeValidator, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _holds(annotation, kinds: tuple[type, ...]) -> bool:
    """True if the field type is one of ``kinds`` or a union/Annotated holding one."""
    if annotation in kinds:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_holds(arg, kinds) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _holds(typing.get_args(annotation)[0], kinds)
    return False


def _metadata(annotation) -> list:
    """Metadata of every ``Annotated`` inside the field type (``Annotated[float, ...] | None``)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return [*extra, *_metadata(base)]
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _metadata(arg)]
    return []


def _reads_strings(field) -> bool:
    """True if a BeforeValidator of the field turns strings into its value (units, durations)."""
    return any(isinstance(m, BeforeValidator) and m.json_schema_input_type is not None
               and _holds(m.json_schema_input_type, (str,)) for m in [*field.metadata, *_metadata(field.annotation)])


class NoBoolInts(BaseModel):
    """Number fields (``int``, ``float``, ``int | None`` ...) of subclasses refuse booleans and strings;
    bool fields refuse numbers and strings (see the module docstring)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_int(cls, value, info: ValidationInfo):
        field = cls.model_fields.get(info.field_name) if info.field_name is not None else None
        if field is None or value is None:
            return value
        number = _holds(field.annotation, (int, float))
        integer = _holds(field.annotation, (int,))
        if number and isinstance(value, bool):
            raise ValueError(f"expected {'an integer' if integer else 'a number'}, got the boolean {str(value).lower()}")
        if number and isinstance(value, str) and not _holds(field.annotation, (str,)) and not _reads_strings(field):
            # pydantic's own error type and message, as for any other non-number
            if integer:
                raise PydanticCustomError("int_type", "Input should be a valid integer")
            raise PydanticCustomError("float_type", "Input should be a valid number")
        if _holds(field.annotation, (bool,)) and not number and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be a valid boolean")
        return value
