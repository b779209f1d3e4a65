"""The planner's exception family.

Every user mistake raises a subclass of ``ValueError`` carrying the field it is about, so the CLI
prints one line and exits 2 and the HTTP API answers 422 with the field path. ``USER_ERRORS``
is the tuple the edges catch; anything else is a bug and may show a traceback.
"""

from catalogs.errors import CatalogError
from scaling_laws.errors import LawError


class PlannerError(ValueError):
    """Base class of planner errors; ``field`` names the input at fault (dotted path) when known."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InputError(PlannerError):
    """A value is malformed or out of range; the message says what is allowed."""


class InfeasibleError(PlannerError):
    """No plan meets the constraints. ``binding`` names the constraint, ``fix`` the smallest change."""

    def __init__(self, message: str, binding: str, fix: str | None = None, field: str | None = None):
        super().__init__(message, field)
        self.binding = binding
        self.fix = fix


USER_ERRORS = (PlannerError, CatalogError, LawError)


def input_error_from_validation(error, origin: str | None = None) -> InputError:
    """One-line InputError from a pydantic ValidationError: ``field.path: message (got value)``."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"]) or "request"
    got = first.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    prefix = f"{origin}: " if origin else ""
    message = first["msg"].removeprefix("Value error, ")
    if isinstance(got, float) and got != got:          # NaN fails every bound: say what it is
        message, shown = f"must be a number, not NaN ({message.lower()})", ""
    return InputError(f"{prefix}{path}: {message}{shown}", path)


def validate_model(model_cls, data: dict, origin: str | None = None):
    """``model_cls.model_validate(data)``, turning validation errors into one-line InputErrors."""
    from pydantic import ValidationError

    try:
        return model_cls.model_validate(data)
    except ValidationError as error:
        raise input_error_from_validation(error, origin) from None
