"""Request parameters as data: a parameter's type, range, enum, length and default, declared once.

The same declaration checks a value arriving in a request (`Param.read`: a clear 400 with a stable code) and
describes it in the OpenAPI document (`Param.schema`), so what the API accepts and what it publishes cannot differ.

Values arrive in two ways: as text (query string, path, urlencoded or multipart form), where "2" is the number 2
and "true" the boolean, or typed (a JSON body), where only a JSON number is a number and only true/false a boolean.
An absent value, JSON null and an empty string all mean "not given": the default (the seed APIs' forms send "").
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from imgapi.core.errors import BadRequest

STRING, INTEGER, NUMBER, BOOLEAN, OBJECT = "string", "integer", "number", "boolean", "object"
UUID_FORMAT, URL_FORMAT = "uuid", "uri"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# http(s)://, optional user info, then a host (not empty: "http://:80" has none).
URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://([^/?#\\s@]*@)?[^/?#\\s@:]"
# Decimal notation only: Python's float() also takes "nan", "inf", "1_000" and non-ASCII digits, which no client means.
_DECIMAL = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _python_regex(pattern: str) -> re.Pattern:
    """A JSON Schema (ECMA-262) pattern for Python: there `$` is the end, here it also matches before a final "\\n"."""
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern)


_UUID = _python_regex(UUID_PATTERN)
_URL = _python_regex(URL_PATTERN)
_SHOWN_CHARS = 80

Dynamic = Any  # a value, or a function of no arguments giving it (a deployment setting, read when needed)


def _resolve(value: Dynamic) -> Any:
    return value() if callable(value) else value


def _number_text(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Param:
    """One parameter: where it may be given is up to the route (api/contract.py); what it may be is here."""

    name: str
    type: str
    description: str
    default: Dynamic = None
    enum: Dynamic = None  # tuple of allowed values
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None  # the whole value must match (checked with re.search: anchor it)
    format: str | None = None  # "uuid" (checked, lower-cased) or "uri" (an http(s) URL with a host)
    code: str = "bad_parameter"  # the 400's code when the value is refused
    secret: bool = False  # never echo the value in an error (passwords)
    # A value of several shapes (bgcolor: "#rrggbb" or [r, g, b]): its JSON Schema and its reader, given whole.
    schema_override: dict | None = None
    reader: Callable[[Any], Any] | None = None
    expects: str | None = None  # what a valid value is, in words, where the type does not say it
    # An object's own fields, and whether others are refused.
    fields: tuple["Param", ...] = ()
    closed: bool = False
    example: Any = None
    extra_schema: dict = field(default_factory=dict)

    # -- reading -------------------------------------------------------------------------------------------------

    def default_value(self) -> Any:
        return _resolve(self.default)

    def allowed(self) -> tuple | None:
        values = _resolve(self.enum)
        return tuple(values) if values is not None else None

    def read(self, value: Any, *, text: bool = False) -> Any:
        """The checked value (converted from text when `text`), or the default when it is not given."""
        if value is None or value == "":
            return self.default_value()
        if self.reader is not None:
            return self.reader(value)
        read = {STRING: self._string, INTEGER: self._integer, NUMBER: self._number, BOOLEAN: self._boolean,
                OBJECT: self._object}[self.type]
        return read(value, text)

    def refuse(self, value: Any, why: str | None = None, *, code: str | None = None) -> BadRequest:
        shown = "" if self.secret else f"; got {_shown(value)}"
        return BadRequest(f"{self.name} must be {why or self.expectation()}{shown}", code=code or self.code)

    def expectation(self) -> str:
        """What a valid value is, in words: the start of every refusal's message."""
        if self.expects is not None:
            return self.expects
        allowed = self.allowed()
        if allowed is not None:
            return "one of " + ", ".join(str(v) for v in allowed)
        if self.type in (INTEGER, NUMBER):
            kind = "an integer" if self.type == INTEGER else "a number"
            if self.minimum is not None and self.maximum is not None:
                return f"{kind} from {_number_text(self.minimum)} to {_number_text(self.maximum)}"
            if self.minimum is not None:
                return f"{kind} of at least {_number_text(self.minimum)}"
            return kind
        if self.type == BOOLEAN:
            return "true or false"
        if self.type == OBJECT:
            return "a JSON object"
        if self.format == UUID_FORMAT:
            return "a UUID like 123e4567-e89b-42d3-a456-426614174000"
        if self.format == URL_FORMAT:
            return f"an http(s) URL of at most {self.max_length} characters"
        return f"a string of at most {self.max_length} characters" if self.max_length else "a string"

    def _string(self, value: Any, text: bool) -> str:
        if not isinstance(value, str):
            raise self.refuse(value)
        if self.max_length is not None and len(value) > self.max_length:
            raise self.refuse(value, f"{self.expectation()} ({len(value)} given)")
        if self.format == UUID_FORMAT:
            if not _UUID.search(value):
                raise self.refuse(value)
            return value.lower()
        if self.format == URL_FORMAT:
            stripped = value.strip()
            try:
                host = urlsplit(stripped).hostname
            except ValueError:  # e.g. an unclosed IPv6 bracket
                host = None
            if not _URL.search(stripped) or not host:
                raise self.refuse(value)
            return stripped
        if self.pattern is not None and not _python_regex(self.pattern).search(value):
            raise self.refuse(value)
        allowed = self.allowed()
        if allowed is not None and value not in allowed:
            raise self.refuse(value)
        return value

    def _numeric(self, value: Any, text: bool) -> int | float:
        """A finite int or float: from a JSON number, or decimal text where text is how it came."""
        if isinstance(value, bool):
            raise self.refuse(value)
        if isinstance(value, str):
            if not text:
                raise self.refuse(value, f"{self.expectation()} (a JSON number, not a string)")
            digits = value.strip()
            # Past 100 characters no number of ours is meant (and int() refuses 4300 digits with an exception).
            if len(digits) > 100 or not _DECIMAL.match(digits):
                raise self.refuse(value)
            number: int | float = int(digits) if re.fullmatch(r"[+-]?[0-9]+", digits) else float(digits)
        elif isinstance(value, (int, float)):
            number = value
        else:
            raise self.refuse(value)
        if isinstance(number, float) and not math.isfinite(number):
            raise self.refuse(value)
        # Compared as they are: a huge int stays exact (float() of it could overflow).
        if (self.minimum is not None and number < self.minimum) or (self.maximum is not None and number > self.maximum):
            raise self.refuse(value)
        return number

    def _integer(self, value: Any, text: bool) -> int:
        number = self._numeric(value, text)
        if isinstance(number, float):
            if not number.is_integer():
                raise self.refuse(value)
            number = int(number)
        return number

    def _number(self, value: Any, text: bool) -> float:
        return float(self._numeric(value, text))

    def _boolean(self, value: Any, text: bool) -> bool:
        if isinstance(value, bool):
            return value
        if text and isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        why = "true or false (a JSON boolean, not a string)" if isinstance(value, str) else None
        raise self.refuse(value, why)

    def _object(self, value: Any, text: bool) -> dict:
        """The object's declared fields, each read and checked (typed: objects only come in JSON), defaults filled
        in; unknown fields refused if it is closed, else left out. An object without declared fields as it is."""
        if not isinstance(value, dict):
            why = "a JSON object: send the request as JSON (content-type application/json)" if text else None
            raise self.refuse(value, why)
        if not self.fields:
            return value
        if self.closed:
            unknown = sorted(set(value) - {f.name for f in self.fields})
            if unknown:
                raise BadRequest(f"unknown {self.name} field(s): {', '.join(map(str, unknown))[:200]}; known: "
                                 f"{', '.join(f.name for f in self.fields)}", code=self.code)
        return {f.name: f.read(value.get(f.name)) for f in self.fields}

    # -- describing ----------------------------------------------------------------------------------------------

    def schema(self) -> dict:
        """The parameter as JSON Schema (OpenAPI 3.1)."""
        if self.schema_override is not None:
            schema = dict(self.schema_override)
        elif self.type == OBJECT:
            schema = {"type": OBJECT, "properties": {f.name: f.schema() for f in self.fields}}
            if self.closed:
                schema["additionalProperties"] = False
        else:
            schema = {"type": self.type}
            allowed = self.allowed()
            if allowed is not None:
                schema["enum"] = list(allowed)
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
            if self.format == UUID_FORMAT:
                schema.update(format=UUID_FORMAT, pattern=UUID_PATTERN)
            elif self.format == URL_FORMAT:
                schema.update(format=URL_FORMAT, pattern=URL_PATTERN)
            elif self.pattern is not None:
                schema["pattern"] = self.pattern
        schema["description"] = self.description
        default = self.default_value()
        if default is not None:
            schema["default"] = default
        if self.example is not None:
            schema["examples"] = [self.example]
        schema.update(self.extra_schema)
        return schema


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


class Values:
    """The raw values of one request part (query string, form, JSON body) and how they came: as text or typed."""

    def __init__(self, raw: Mapping[str, Any] | None, *, text: bool):
        self.raw = dict(raw or {})
        self.text = text

    def given(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def read(self, param: Param) -> Any:
        return param.read(self.raw.get(param.name), text=self.text)
