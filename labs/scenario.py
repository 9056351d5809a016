"""Lab scenario files: their model, a loader naming each mistake's line, and their JSON Schema."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    PlainValidator,
    PrivateAttr,
    Strict,
    Tag,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema

from emulator.dsl import Technology
from emulator.telephony.exchange import parse_service_code
from profiles.catalogue import Catalogue
from profiles.model import LineName
from profiles.numbering import DialledNumber, NumberingPlan, NumberKind
from profiles.records import Disposition, ForwardReason

try:
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]

__all__ = [
    "DEFAULT_OFFER",
    "DEFAULT_START",
    "EXPECT_CHECKS",
    "MAX_BOXES_PER_SPEC",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "STEP_KINDS",
    "AdvanceStep",
    "Bench",
    "BoxLine",
    "BoxSpec",
    "CallStep",
    "ContinuityStep",
    "ExpectStep",
    "FaultKind",
    "FaultStep",
    "ForwardingStep",
    "KbpsRange",
    "PhoneSpec",
    "ProvisionStep",
    "RestoreStep",
    "Scenario",
    "ScenarioError",
    "StarCodeStep",
    "Step",
    "TrafficStep",
    "load_scenario",
    "load_scenario_text",
    "parse_endpoint",
    "scenario_schema",
    "schema_text",
    "write_schema",
]

SCHEMA_ID: Final = "https://livebox-lab.invalid/scenario.schema.json"
SCHEMA_PATH: Final = Path(__file__).with_name("scenario.schema.json")
DEFAULT_OFFER: Final = "optimale-pro-intense"
DEFAULT_START: Final = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
MAX_BOXES_PER_SPEC: Final = 10_000

_NAME_PATTERN: Final = "^[a-z0-9-]+$"
_NAME: Final = re.compile(_NAME_PATTERN)
_BOX_LINE: Final = re.compile(r"(?P<box>[a-z0-9-]+)\.(?P<line>voip|classic)")
_MONEY_PATTERN: Final = r"^[0-9]+(\.[0-9]+)?$"
_MONEY: Final = re.compile(_MONEY_PATTERN)
_MONTH_PATTERN: Final = "^[0-9]{4}-(0[1-9]|1[0-2])$"
_MONTH: Final = re.compile(_MONTH_PATTERN)
_END_OF_MONTH: Final = "end-of-month"
# Set in the validation context when the data comes from a file: only the file's spellings
# (aliases) are accepted there, and the scenario's path is the file's.
_SOURCE: Final = "scenario_file"


class ScenarioError(ValueError):
    """A scenario file is wrong: the message is `<file>:<line>: <field path>: <reason>`."""

    def __init__(self, path: Path, line: int | None, field: str | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
        where = str(path) if line is None else f"{path}:{line}"
        super().__init__(": ".join([where, *([field] if field else []), reason]))


class _Misplaced(ValueError):
    """A mistake a model finds in one of its fields, or deeper: `loc` is relative to the model.

    Pydantic keeps the exception in the error's context, so the loader can point at the field's
    line rather than at the model's.
    """

    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        self.loc = loc
        self.reason = reason
        super().__init__(f"{'.'.join(map(str, loc))}: {reason}" if loc else reason)


@functools.cache
def _catalogue() -> Catalogue:
    return Catalogue.load()


@functools.cache
def _plan() -> NumberingPlan:
    return _catalogue().numbering_plan()


# --- Field types: each refuses what YAML could read by accident, with a clear reason ----------


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"a name is written in lowercase letters, digits and '-' (read {value!r})")
    return value


def _offer(value: object) -> str:
    offers = _catalogue().offers
    if not isinstance(value, str) or value not in offers:
        raise ValueError(f"no offer named {value!r}; known offers: {', '.join(sorted(offers))}")
    return value


class _OfferNames:
    """The JSON Schema of an offer name: the plans of the catalogue, read when it is generated."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": sorted(_catalogue().offers)}


def _classified(value: object) -> DialledNumber:
    if isinstance(value, int) and not isinstance(value, bool):
        # Unquoted, +33612345678 is an integer to YAML: the '+' and any leading 0 are gone.
        raise ValueError(
            f'write phone numbers as quoted strings ("+33612345678"); YAML read this one as'
            f" the number {value}"
        )
    if not isinstance(value, str):
        raise ValueError(f"expected a phone number as a string, read {value!r}")
    try:
        return _plan().classify(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _phone_number(value: object) -> str:
    return _classified(value).number


def _forward_target(value: object) -> str:
    number = _classified(value)
    if number.kind in (NumberKind.SHORT, NumberKind.EMERGENCY):
        raise ValueError(
            f"{number.dialled!r} is {_article(number.kind)} {number.kind} number; calls are"
            " forwarded to full numbers only"
        )
    return number.number


@dataclass(frozen=True, slots=True)
class BoxLine:
    """One of a box's two lines, as a call step names it: `shop.voip`, `shop.classic`."""

    box: str
    line: LineName

    def __str__(self) -> str:
        return f"{self.box}.{self.line}"


def parse_endpoint(text: str) -> BoxLine | None:
    """The box line `text` names (`shop.voip`), or None when it is a phone number."""
    match = _BOX_LINE.fullmatch(text)
    if match is None:
        return None
    return BoxLine(match["box"], LineName(match["line"]))


def _endpoint(value: object) -> str:
    if isinstance(value, str) and parse_endpoint(value) is not None:
        return value
    try:
        return _phone_number(value)
    except ValueError as exc:
        if not isinstance(value, str):
            raise  # the reason says what YAML read instead of text
        raise ValueError(f"{exc}; a call's end is a number, <box>.voip or <box>.classic") from None


def _star_code(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected a star code as a string ("*21*0612345678#"), read {value!r}')
    code = parse_service_code(value)
    if code is None:
        raise ValueError(f"{value!r} is not a star code; star codes start with '*' or '#'")
    if code.target is not None:
        try:
            _forward_target(code.target)
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None
    return value


def _money(value: object) -> Decimal:
    if isinstance(value, float | int) and not isinstance(value, bool):
        # YAML reads 0.42 as a binary float, already rounded: amounts must be quoted.
        raise ValueError(f'write amounts as quoted decimal strings ("{value}"), not numbers')
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise ValueError(f'an amount is a decimal string of EUR such as "0.42" (read {value!r})')
    return Decimal(value)


def _month(value: object) -> str:
    if not isinstance(value, str) or not _MONTH.fullmatch(value):
        raise ValueError(f'a month is written "YYYY-MM", e.g. "2026-11" (read {value!r})')
    return value


def _moment(value: object) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO 8601 date and time such as 2026-11-30T09:00:00+01:00"
            ) from None
    if not isinstance(value, dt.datetime):
        if isinstance(value, dt.date):
            raise ValueError(
                f"{value.isoformat()} is a date without a time; write a date and time with its"
                f" offset, e.g. {value.isoformat()}T09:00:00+01:00"
            )
        raise ValueError(
            f"expected a date and time such as 2026-11-30T09:00:00+01:00, read {value!r}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{value.isoformat()} has no time zone; add its offset (+01:00 for Paris in winter,"
            " or Z for UTC)"
        )
    return value


def _advance_target(value: object) -> dt.datetime | Literal["end-of-month"]:
    if value == _END_OF_MONTH:
        return _END_OF_MONTH
    try:
        return _moment(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; or write {_END_OF_MONTH}") from None


def _answer(value: object) -> bool | Literal["busy"]:
    if value is True or value is False:
        return value
    if value == "busy":
        return "busy"
    raise ValueError(f"answer is true, false or busy (read {value!r})")


def _site(value: object, info: ValidationInfo) -> Path:
    if not isinstance(value, str | Path) or not str(value):
        raise ValueError(f"expected the path of a site file, read {value!r}")
    source = (info.context or {}).get(_SOURCE)
    # A relative site is read beside the scenario, wherever the lab is run from.
    base = source.parent if isinstance(source, Path) else Path()
    path = (base / value).resolve()
    if not path.is_file():
        raise ValueError(f"no site file {str(value)!r} (looked for {path})")
    return path


Name = Annotated[
    str, PlainValidator(_name), WithJsonSchema({"type": "string", "pattern": _NAME_PATTERN})
]
OfferName = Annotated[str, PlainValidator(_offer), _OfferNames()]
PhoneNumber = Annotated[
    str,
    PlainValidator(_phone_number),
    WithJsonSchema({"type": "string", "minLength": 1, "description": "a phone number"}),
]
ForwardTarget = Annotated[
    str,
    PlainValidator(_forward_target),
    WithJsonSchema({"type": "string", "minLength": 1, "description": "a full phone number"}),
]
Endpoint = Annotated[
    str,
    PlainValidator(_endpoint),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "description": "a phone number, or <box>.voip / <box>.classic",
        }
    ),
]
StarCode = Annotated[
    str, PlainValidator(_star_code), WithJsonSchema({"type": "string", "pattern": "^[*#]"})
]
Money = Annotated[
    Decimal,
    PlainValidator(_money),
    WithJsonSchema({"type": "string", "pattern": _MONEY_PATTERN, "description": "EUR HT"}),
]
Month = Annotated[
    str, PlainValidator(_month), WithJsonSchema({"type": "string", "pattern": _MONTH_PATTERN})
]
Moment = Annotated[
    dt.datetime,
    PlainValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
AdvanceTarget = Annotated[
    dt.datetime | Literal["end-of-month"],
    PlainValidator(_advance_target),
    WithJsonSchema(
        {"anyOf": [{"const": _END_OF_MONTH}, {"type": "string", "format": "date-time"}]}
    ),
]
Answer = Annotated[
    bool | Literal["busy"],
    PlainValidator(_answer),
    WithJsonSchema({"anyOf": [{"type": "boolean"}, {"const": "busy"}]}),
]
SitePath = Annotated[
    Path,
    PlainValidator(_site),
    WithJsonSchema({"type": "string", "description": "relative to the scenario file"}),
]
Text = Annotated[str, Strict()]
Flag = Annotated[bool, Strict()]
Seconds = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
PositiveAmount = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]
Count = Annotated[int, Strict(), Field(ge=0)]
Kbps = Annotated[int, Strict(), Field(ge=0)]
ProvisionOutcome = Literal["changed", "unchanged", "failed"]
# The Status values of the VoIP line in the box's data model (profiles/data/datamodel.yaml).
LineStatus = Literal[
    "Up",
    "Initializing",
    "Registering",
    "Unregistering",
    "Error",
    "Testing",
    "Quiescent",
    "Disabled",
]


class FaultKind(enum.StrEnum):
    """What a fault step breaks (and a restore step mends)."""

    CLASSIC_LINE_DOWN = "classic-line-down"
    DSL_LOSS_OF_SYNC = "dsl-loss-of-sync"
    REGISTRAR_UNREACHABLE = "registrar-unreachable"
    MANAGEMENT_CUT = "management-cut"


# --- The sections of a scenario -----------------------------------------------------------


class _Section(BaseModel):
    """A part of a scenario: unknown fields are mistakes, named with the fields it has."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: How messages name this section.
    what: ClassVar[str] = "this section"
    #: Fields only Python sets: a file may not write them (the loader sets the scenario's path).
    internal: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def spellings(cls) -> list[str]:
        """The field names as a file writes them."""
        return [
            info.alias or name
            for name, info in cls.model_fields.items()
            if name not in cls.internal
        ]

    @model_validator(mode="before")
    @classmethod
    def _known_fields_only(cls, data: Any, info: ValidationInfo) -> Any:
        data = cls._body(data)
        if isinstance(data, dict):
            from_file = _SOURCE in (info.context or {})
            known = set(cls.spellings())
            if not from_file:
                known |= set(cls.model_fields)
            for key in data:
                if key not in known:
                    where = key if isinstance(key, str | int) else str(key)
                    raise _Misplaced(
                        (where,), f"unknown field; {cls.what} has: {', '.join(cls.spellings())}"
                    )
        return cls._completed(data, info)

    @classmethod
    def _body(cls, data: Any) -> Any:
        """The mapping of fields within what the file holds (a step wraps it in its kind)."""
        return data

    @classmethod
    def _completed(cls, data: Any, info: ValidationInfo) -> Any:
        """The data with what the file does not say but the model needs."""
        return data


class BoxSpec(_Section):
    """Emulated boxes of the bench: one, or `count` of them named `<name>-1` to `<name>-N`."""

    what: ClassVar[str] = "a box"

    name: Name
    count: Annotated[int, Strict(), Field(ge=1, le=MAX_BOXES_PER_SPEC)] = 1
    offer: OfferName = Field(default=DEFAULT_OFFER, description="default: the bench's offer")
    technology: Technology = Technology.VDSL2
    attenuation_db: Annotated[float, Strict(), Field(ge=0, le=90, allow_inf_nan=False)] = 12.0
    site: SitePath | None = Field(default=None, description="a site file to provision")
    misbehaves: Flag = Field(
        default=False,
        description="the box refuses management (wrong admin password), for fleet tests",
    )

    def names(self) -> list[str]:
        """The names of the boxes this entry makes."""
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{n}" for n in range(1, self.count + 1)]


class PhoneSpec(_Section):
    """A virtual phone on an external number (any kind and zone)."""

    what: ClassVar[str] = "a phone"

    number: PhoneNumber = Field(description="kept in E.164 (the bare digits of short numbers)")
    name: Text = Field(default="", description="shown by caller name display")
    answer_after_s: Seconds | None = Field(default=2.0, description="null: never answers")
    busy: Flag = False


class Bench(_Section):
    """The emulated boxes and the virtual phones a scenario plays on."""

    what: ClassVar[str] = "the bench"

    offer: OfferName = Field(default=DEFAULT_OFFER, description="the boxes' default offer")
    boxes: list[BoxSpec] = Field(min_length=1)
    phones: list[PhoneSpec] = []

    @classmethod
    def _completed(cls, data: Any, info: ValidationInfo) -> Any:
        """Boxes that name no offer take the bench's (once it is known to be an offer)."""
        if not isinstance(data, dict) or not isinstance(data.get("boxes"), list):
            return data
        offer = data.get("offer", DEFAULT_OFFER)
        if not isinstance(offer, str) or offer not in _catalogue().offers:
            return data  # the bench's offer is reported on its own
        return {**data, "boxes": [_with_offer(box, offer) for box in data["boxes"]]}

    @model_validator(mode="after")
    def _unique(self) -> Bench:
        owner: dict[str, int] = {}
        groups = {spec.name for spec in self.boxes if spec.count > 1}
        for index, spec in enumerate(self.boxes):
            if spec.count == 1 and spec.name in groups:
                raise _Misplaced(
                    ("boxes", index, "name"),
                    f"{spec.name!r} already names a group of boxes; give this box another name",
                )
            for name in spec.names():
                if name in owner:
                    raise _Misplaced(
                        ("boxes", index, "name"),
                        f"two boxes would be named {name!r} (the other one: boxes.{owner[name]})",
                    )
                owner[name] = index
        numbers: dict[str, int] = {}
        for index, phone in enumerate(self.phones):
            if phone.number in numbers:
                raise _Misplaced(
                    ("phones", index, "number"),
                    f"{phone.number} already has a phone (phones.{numbers[phone.number]})",
                )
            numbers[phone.number] = index
        return self

    def box_names(self) -> list[str]:
        """Every box of the bench, in order."""
        return [name for spec in self.boxes for name in spec.names()]

    def targets(self, name: str) -> list[str]:
        """The boxes a step's `box` names: one box, or every box of a group (`count` > 1)."""
        for spec in self.boxes:
            if name == spec.name or name in spec.names():
                return spec.names() if name == spec.name else [name]
        raise KeyError(f"no box named {name!r} on the bench")

    def spec(self, box: str) -> BoxSpec:
        """The entry that makes the box of that name."""
        for spec in self.boxes:
            if box in spec.names():
                return spec
        raise KeyError(f"no box named {box!r} on the bench")


def _with_offer(box: object, offer: str) -> object:
    if isinstance(box, dict) and "offer" not in box:
        return {**box, "offer": offer}
    if isinstance(box, BoxSpec) and "offer" not in box.model_fields_set:
        return box.model_copy(update={"offer": offer})
    return box


# --- Steps ----------------------------------------------------------------------------------


_BOX_OR_GROUP: Final = "a box, or a group (count > 1): each of its boxes"


class _Step(_Section):
    """A step: in the file, a mapping of one key, the step's kind, to the step's fields."""

    step_kind: ClassVar[str]

    @classmethod
    def _body(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) == 1 and cls.step_kind in data:
            body = data[cls.step_kind]
            if not isinstance(body, dict):
                raise _Misplaced(
                    (),
                    f"{cls.what} is a mapping of its fields ({', '.join(cls.spellings())});"
                    f" read {body!r}",
                )
            return body
        return data


class ProvisionStep(_Step):
    """Provision a box (or every box of a group) from its site file."""

    step_kind: ClassVar[str] = "provision"
    what: ClassVar[str] = "a provision step"

    box: Name = Field(description=_BOX_OR_GROUP)
    check: Flag = Field(default=False, description="show the diff only")
    expect: ProvisionOutcome | None = None
    canary: Count | None = None
    max_failures: Count | None = None
    concurrency: Annotated[int, Strict(), Field(ge=1)] | None = None


class CallStep(_Step):
    """Place a call from a number or a box's line (`shop.voip`, `shop.classic`) to another."""

    # `from` is a Python keyword: the field is `caller`, written `from` in files. Both ends keep
    # the text of a box line as written and hold numbers in E.164.

    step_kind: ClassVar[str] = "call"
    what: ClassVar[str] = "a call step"

    id: Name | None = Field(default=None, description="referred to by expectations")
    caller: Endpoint = Field(alias="from")
    to: Endpoint
    answer: Answer = Field(default=True, description="what the dialled phone does")
    ring_s: Seconds = Field(default=2.0, description="ringing before the answer")
    duration_s: Seconds = Field(default=60.0, description="talk time after the answer")
    hold_s: Seconds = Field(default=60.0, description="how long an unanswered caller waits")


_FORWARDING_RULES: Final = ("unconditional", "busy", "no_answer", "ring_timeout_s")


class ForwardingStep(_Step):
    """Write the VoIP line's CallingFeatures into a box's tree.

    A rule left out stays as it is, null turns it off, and `clear: true` turns every rule off.
    """

    # `model_fields_set` tells a rule left out from a rule set to null.

    step_kind: ClassVar[str] = "forwarding"
    what: ClassVar[str] = "a forwarding step"

    box: Name = Field(description=_BOX_OR_GROUP)
    unconditional: ForwardTarget | None = None
    busy: ForwardTarget | None = None
    no_answer: ForwardTarget | None = None
    ring_timeout_s: Annotated[int, Strict(), Field(ge=5, le=120)] | None = None
    clear: Flag = False

    @model_validator(mode="after")
    def _sets_something(self) -> ForwardingStep:
        rules = [name for name in _FORWARDING_RULES if name in self.model_fields_set]
        if self.clear and rules:
            raise _Misplaced(
                (rules[0],), "clear: true turns every rule off and takes no rule; write two steps"
            )
        if not self.clear and not rules:
            raise _Misplaced(
                (),
                f"a forwarding step sets {', '.join(_FORWARDING_RULES)}, or clears them all"
                " (clear: true)",
            )
        return self


class StarCodeStep(_Step):
    """Dial a star code from the phone of a box's classic line."""

    step_kind: ClassVar[str] = "star_code"
    what: ClassVar[str] = "a star_code step"

    box: Name = Field(description="one box")
    dial: StarCode


Share = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]


class DurationRange(_Section):
    """Bounds of call durations, in seconds."""

    what: ClassVar[str] = "a duration range"

    min: Seconds = 30.0
    max: Seconds = 300.0

    @model_validator(mode="after")
    def _ordered(self) -> DurationRange:
        if self.min > self.max:
            raise _Misplaced(("max",), f"max {self.max:g} is below min {self.min:g}")
        return self


class TrafficStep(_Step):
    """A stretch of realistic traffic from a box's classic line: many calls, answered.

    The calls are spread over the next `days` days, in working hours, to `correspondents`
    different numbers: metropolitan fixed ones, mobiles (`mobile_share` of the calls) and
    numbers abroad outside every plan (`abroad_share`), each answered and lasting between
    `duration_s.min` and `.max`; `seed` makes the month the same at every run.
    """

    step_kind: ClassVar[str] = "traffic"
    what: ClassVar[str] = "a traffic step"

    box: Name = Field(description="one box")
    calls: Annotated[int, Strict(), Field(ge=1, le=5000)]
    correspondents: Annotated[int, Strict(), Field(ge=1, le=5000)] | None = None
    mobile_share: Share = 0.0
    abroad_share: Share = 0.0
    duration_s: DurationRange = Field(default_factory=DurationRange)
    days: Annotated[int, Strict(), Field(ge=1, le=31)] = 20
    seed: Annotated[int, Strict()] = 1

    @model_validator(mode="after")
    def _shares(self) -> TrafficStep:
        if self.mobile_share + self.abroad_share > 1:
            raise _Misplaced(("abroad_share",), "mobile_share and abroad_share add up above 1")
        if self.correspondents is not None and self.correspondents > self.calls:
            raise _Misplaced(
                ("correspondents",),
                f"{self.correspondents} correspondents need as many calls, not {self.calls}",
            )
        return self


class ContinuityStep(_Step):
    """Set (or, with null, remove) the classic line's redirect-on-failure number."""

    step_kind: ClassVar[str] = "continuity"
    what: ClassVar[str] = "a continuity step"

    box: Name = Field(description=_BOX_OR_GROUP)
    number: PhoneNumber | None


class FaultStep(_Step):
    """Break something on a box."""

    step_kind: ClassVar[str] = "fault"
    what: ClassVar[str] = "a fault step"

    box: Name = Field(description=_BOX_OR_GROUP)
    kind: FaultKind


class RestoreStep(_Step):
    """Mend a fault of a box."""

    step_kind: ClassVar[str] = "restore"
    what: ClassVar[str] = "a restore step"

    box: Name = Field(description=_BOX_OR_GROUP)
    kind: FaultKind

    @classmethod
    def _completed(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "kind" not in data:
            raise _Misplaced(
                (),
                "a restore step names the kind of fault it mends: "
                + ", ".join(kind.value for kind in FaultKind),
            )
        return data


class AdvanceStep(_Step):
    """Let simulated time run: for a while, or up to a moment (or the end of the month)."""

    step_kind: ClassVar[str] = "advance"
    what: ClassVar[str] = "an advance step"

    seconds: PositiveAmount | None = None
    to: AdvanceTarget | None = None
    days: PositiveAmount | None = None
    hours: PositiveAmount | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> AdvanceStep:
        given = [n for n in ("seconds", "to", "days", "hours") if getattr(self, n) is not None]
        if not given:
            raise _Misplaced((), "an advance step says how far: seconds, days, hours or to")
        if len(given) > 1:
            raise _Misplaced(
                (given[1],),
                f"an advance step says how far once; this one gives {given[0]} and {given[1]}",
            )
        return self

    @property
    def delta(self) -> dt.timedelta | None:
        """How long the step lasts, or None when it runs `to` a moment."""
        if self.seconds is not None:
            return dt.timedelta(seconds=self.seconds)
        if self.hours is not None:
            return dt.timedelta(hours=self.hours)
        if self.days is not None:
            return dt.timedelta(days=self.days)
        return None


class KbpsRange(_Section):
    """Bounds of a rate in kb/s, either or both."""

    what: ClassVar[str] = "a range"

    min: Kbps | None = None
    max: Kbps | None = None

    @model_validator(mode="after")
    def _bounded(self) -> KbpsRange:
        if self.min is None and self.max is None:
            raise _Misplaced((), "a range gives min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _Misplaced(("max",), f"max {self.max} is below min {self.min}")
        return self

    def __contains__(self, kbps: object) -> bool:
        if not isinstance(kbps, int | float):
            return False
        return (self.min is None or kbps >= self.min) and (self.max is None or kbps <= self.max)


#: The subjects of an expectation and the checks each takes.
EXPECT_CHECKS: Final[Mapping[str, tuple[str, ...]]] = {
    "call": ("reached", "status", "disposition", "forwarded", "hops", "price_eur", "duration_s"),
    "box": ("line_status", "dsl_down_kbps", "dsl_up_kbps", "wan", "provisioned"),
    "invoice": ("total_eur", "calls_eur", "fees_eur"),
    "sla": ("met", "penalty_eur"),
    "fleet": ("succeeded", "failed", "stopped"),
    "link": ("within_pct",),
}
# What a subject takes besides its checks.
_EXPECT_OPTIONS: Final[Mapping[str, tuple[str, ...]]] = {"invoice": ("month",)}


class ExpectStep(_Step):
    """An expectation: one subject (call, box, invoice, sla, fleet or link) and its checks."""

    step_kind: ClassVar[str] = "expect"
    what: ClassVar[str] = "an expect step"

    call: Name | None = Field(default=None, description="the id of an earlier call")
    box: Name | None = None
    invoice: Name | None = Field(default=None, description="the box whose invoice it is")
    sla: Name | None = Field(default=None, description="the box whose last restored fault it is")
    fleet: Name | None = Field(default=None, description="a group of boxes, or one box")
    link: Name | None = Field(
        default=None,
        description="the box whose WAN is put behind a real shaped link and measured (root)",
    )

    reached: Endpoint | None = None
    status: Annotated[int, Strict(), Field(ge=100, le=699)] | None = None
    disposition: Disposition | None = None
    forwarded: ForwardReason | None = Field(default=None, description="the last hop's reason")
    hops: Count | None = None
    price_eur: Money | None = Field(default=None, description="total of the call's priced legs")
    duration_s: Count | None = None

    line_status: LineStatus | None = None
    dsl_down_kbps: KbpsRange | None = None
    dsl_up_kbps: KbpsRange | None = None
    wan: Literal["up", "down"] | None = None
    provisioned: ProvisionOutcome | None = Field(
        default=None, description="the outcome of the box's last provision step"
    )

    total_eur: Money | None = None
    calls_eur: Money | None = None
    fees_eur: Money | None = None
    month: Month | None = None

    met: Flag | None = None
    penalty_eur: Money | None = None

    succeeded: Count | None = None
    failed: Count | None = None
    stopped: Flag | None = None

    within_pct: Annotated[float, Strict(), Field(gt=0, le=100)] | None = Field(
        default=None, description="the measured IP rate within this many % of the modelled one"
    )

    @model_validator(mode="after")
    def _one_subject_and_its_checks(self) -> ExpectStep:
        subjects = [name for name in EXPECT_CHECKS if getattr(self, name) is not None]
        if not subjects:
            raise _Misplaced(
                (), f"an expectation names its subject: one of {', '.join(EXPECT_CHECKS)}"
            )
        if len(subjects) > 1:
            raise _Misplaced(
                (subjects[1],),
                f"an expectation has one subject; this one names {subjects[0]} and"
                f" {subjects[1]}: write two expect steps",
            )
        subject = subjects[0]
        allowed = EXPECT_CHECKS[subject] + _EXPECT_OPTIONS.get(subject, ())
        for name in type(self).model_fields:
            if name in EXPECT_CHECKS or getattr(self, name) is None or name in allowed:
                continue
            raise _Misplaced(
                (name,),
                f"{name} is not a check of {_article(subject)} {subject}; its checks:"
                f" {', '.join(EXPECT_CHECKS[subject])}",
            )
        if not self.checks:
            raise _Misplaced(
                (),
                f"expect {subject} {getattr(self, subject)} checks nothing; add one of"
                f" {', '.join(EXPECT_CHECKS[subject])}",
            )
        return self

    @property
    def subject_kind(self) -> str:
        """call, box, invoice, sla, fleet or link."""
        return next(name for name in EXPECT_CHECKS if getattr(self, name) is not None)

    @property
    def subject(self) -> str:
        """The call id or box name the expectation is about."""
        return str(getattr(self, self.subject_kind))

    @property
    def checks(self) -> dict[str, object]:
        """The checks given, by name, in the order of the format."""
        return {
            name: getattr(self, name)
            for name in EXPECT_CHECKS[self.subject_kind]
            if getattr(self, name) is not None
        }


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


Step: TypeAlias = (
    ProvisionStep
    | CallStep
    | ForwardingStep
    | StarCodeStep
    | TrafficStep
    | ContinuityStep
    | FaultStep
    | RestoreStep
    | AdvanceStep
    | ExpectStep
)
STEP_KINDS: Final[Mapping[str, type[_Step]]] = {
    kind.step_kind: kind
    for kind in (
        ProvisionStep,
        CallStep,
        ForwardingStep,
        StarCodeStep,
        TrafficStep,
        ContinuityStep,
        FaultStep,
        RestoreStep,
        AdvanceStep,
        ExpectStep,
    )
}


def _one_kind(value: object) -> object:
    """A step is a mapping of exactly one known kind to its fields."""
    if isinstance(value, _Step):
        return value
    known = ", ".join(STEP_KINDS)
    if not isinstance(value, dict) or not value:
        raise _Misplaced((), f"a step is a mapping of one kind to its fields; kinds: {known}")
    keys = list(value)
    if len(keys) > 1:
        raise _Misplaced(
            (str(keys[1]),),
            f"a step has exactly one kind; this one has {', '.join(map(str, keys))}: write each"
            " as its own '- ' item",
        )
    if keys[0] not in STEP_KINDS:
        raise _Misplaced((str(keys[0]),), f"unknown step {keys[0]!r}; kinds: {known}")
    return value


def _step_tag(value: object) -> str | None:
    if isinstance(value, _Step):
        return value.step_kind
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if isinstance(key, str) else None
    return None


class _StepsAsWritten:
    """The JSON Schema of a step as the file writes it: `{kind: {fields}}`."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        union = handler(core_schema)
        kind_of_title = {kind.__name__: name for name, kind in STEP_KINDS.items()}
        written = []
        for choice in union["oneOf"]:
            kind = kind_of_title[handler.resolve_ref_schema(choice)["title"]]
            written.append(
                {
                    "type": "object",
                    "properties": {kind: choice},
                    "required": [kind],
                    "additionalProperties": False,
                }
            )
        return {"oneOf": written}


_WrittenStep = Annotated[
    Annotated[ProvisionStep, Tag("provision")]
    | Annotated[CallStep, Tag("call")]
    | Annotated[ForwardingStep, Tag("forwarding")]
    | Annotated[StarCodeStep, Tag("star_code")]
    | Annotated[TrafficStep, Tag("traffic")]
    | Annotated[ContinuityStep, Tag("continuity")]
    | Annotated[FaultStep, Tag("fault")]
    | Annotated[RestoreStep, Tag("restore")]
    | Annotated[AdvanceStep, Tag("advance")]
    | Annotated[ExpectStep, Tag("expect")],
    Discriminator(_step_tag),
    _StepsAsWritten(),
    BeforeValidator(_one_kind),
]


class Scenario(_Section):
    """A lab scenario: a bench of emulated boxes and phones, and steps in simulated time."""

    what: ClassVar[str] = "a scenario"
    internal: ClassVar[frozenset[str]] = frozenset({"path"})

    name: Name
    description: Text = ""
    start: Moment = Field(default=DEFAULT_START, description="with its offset")
    bench: Bench
    steps: list[_WrittenStep]
    #: The scenario file (site files are read relative to it).
    path: SkipJsonSchema[Path]

    _step_lines: list[int | None] = PrivateAttr(default_factory=list)

    @classmethod
    def _completed(cls, data: Any, info: ValidationInfo) -> Any:
        source = (info.context or {}).get(_SOURCE)
        if isinstance(source, Path) and isinstance(data, dict):
            return {**data, "path": source}
        return data

    @model_validator(mode="after")
    def _references_hold(self) -> Scenario:
        _References(self).check()
        return self

    def step_lines(self) -> list[int | None]:
        """The line of the file where each step is written (None when built in Python)."""
        lines = self._step_lines
        return lines if len(lines) == len(self.steps) else [None] * len(self.steps)


class _References:
    """Checks that the steps name boxes, calls and faults that exist by the time they run."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.bench = scenario.bench
        self.boxes = set(self.bench.box_names())
        self.groups = {spec.name: spec.names() for spec in self.bench.boxes if spec.count > 1}
        self.calls: dict[str, int] = {}
        self.faults: set[tuple[str, FaultKind]] = set()
        self.restored: set[str] = set()
        self.provisioned: set[str] = set()
        # A lower bound of the simulated time: calls only make it later.
        self.earliest = scenario.start
        self.where: tuple[str | int, ...] = ()

    def check(self) -> None:
        for index, step in enumerate(self.scenario.steps):
            self.where = ("steps", index, step.step_kind)
            self._step(index, step)

    def _step(self, index: int, step: Step) -> None:
        if isinstance(step, ProvisionStep):
            self.provisioned.update(self._boxes("box", step.box))
        elif isinstance(step, CallStep):
            if step.id is not None:
                if step.id in self.calls:
                    raise self._wrong(
                        "id", f"call id {step.id!r} is already used (steps.{self.calls[step.id]})"
                    )
                self.calls[step.id] = index
            self._endpoint("from", step.caller)
            self._endpoint("to", step.to)
        elif isinstance(step, ContinuityStep):
            for box in self._boxes("box", step.box):
                if step.number is not None:
                    self._continuity(box, step.number)
        elif isinstance(step, ForwardingStep):
            self._boxes("box", step.box)
        elif isinstance(step, StarCodeStep | TrafficStep):
            self._one_box("box", step.box)  # dialled from one phone
        elif isinstance(step, FaultStep):
            self.faults.update((box, step.kind) for box in self._boxes("box", step.box))
        elif isinstance(step, RestoreStep):
            for box in self._boxes("box", step.box):
                if (box, step.kind) not in self.faults:
                    raise self._wrong(
                        "kind", f"no fault step before this one breaks {box} with {step.kind}"
                    )
                self.faults.discard((box, step.kind))
                self.restored.add(box)
        elif isinstance(step, AdvanceStep):
            self._advance(step)
        else:
            self._expect(step)

    def _advance(self, step: AdvanceStep) -> None:
        if isinstance(step.to, dt.datetime):
            if step.to < self.earliest:
                raise self._wrong(
                    "to",
                    f"{step.to.isoformat()} is in the past: by this step the simulated time is"
                    f" at least {self.earliest.isoformat()}",
                )
            self.earliest = step.to
        elif step.delta is not None:
            self.earliest += step.delta

    def _expect(self, step: ExpectStep) -> None:
        kind, subject = step.subject_kind, step.subject
        if kind == "call":
            if subject not in self.calls:
                known = f"; ids so far: {', '.join(self.calls)}" if self.calls else ""
                raise self._wrong("call", f"no call with id {subject!r} before this step{known}")
            if step.reached is not None:
                self._endpoint("reached", step.reached)
        elif kind == "fleet":
            if not set(self._boxes("fleet", subject)) & self.provisioned:
                raise self._wrong(
                    "fleet", f"no provision step before this one provisions {subject}"
                )
        else:
            box = self._one_box(kind, subject)
            if step.provisioned is not None and box not in self.provisioned:
                raise self._wrong(
                    "provisioned", f"no provision step before this one provisions {box}"
                )
            if kind == "sla" and box not in self.restored:
                raise self._wrong(
                    "sla",
                    f"no fault of {box} is restored before this step; an sla expectation is"
                    " about the box's last restored fault",
                )

    def _continuity(self, box: str, number: str) -> None:
        rule = _catalogue().offer(self.bench.spec(box).offer).calls.continuity
        classified = _plan().classify(number)
        if classified.kind in rule.kinds and classified.region in rule.regions:
            return
        places = ["metropolitan France" if r == "FR" else r for r in rule.regions]
        raise self._wrong(
            "number",
            f"{number} is a {classified.kind} number of {classified.region}; the classic line is"
            f" redirected on failure to a {' or '.join(rule.kinds)} number of"
            f" {' or '.join(places)} (footnote 15 of the offer)",
        )

    def _endpoint(self, field: str, text: str) -> None:
        line = parse_endpoint(text)
        if line is not None:
            self._one_box(field, line.box)

    def _boxes(self, field: str, name: str) -> list[str]:
        """The boxes a group or box name stands for."""
        if name in self.groups:
            return self.groups[name]
        return [self._one_box(field, name)]

    def _one_box(self, field: str, name: str) -> str:
        if name in self.boxes:
            return name
        if name in self.groups:
            names = self.groups[name]
            raise self._wrong(
                field,
                f"{name!r} is a group of {len(names)} boxes ({names[0]} to {names[-1]}); this"
                " step acts on one box: name one of them",
            )
        raise self._wrong(field, f"no box named {name!r} on the bench; it has {self._bench()}")

    def _bench(self) -> str:
        entries = [
            spec.name if spec.count == 1 else f"{spec.name}-1 to {spec.name}-{spec.count}"
            for spec in self.bench.boxes
        ]
        return ", ".join(entries)

    def _wrong(self, field: str, reason: str) -> _Misplaced:
        return _Misplaced((*self.where, field), reason)


# --- Reading a file ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Marks:
    """The line of every mapping key and sequence item of a YAML document, by container."""

    root: int | None = None
    # id of a container -> (the container, held so that its id stays its own; the lines of its
    # keys, or of its items)
    lines: dict[int, tuple[object, dict[Any, int] | list[int]]] = field(default_factory=dict)

    def line_of(self, data: object, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest part of `loc` written in the file."""
        line, current = self.root, data
        for part in loc:
            entry = self.lines.get(id(current))
            if entry is None:
                break
            lines = entry[1]
            if isinstance(current, dict) and isinstance(lines, dict) and part in current:
                line, current = lines.get(part, line), current[part]
            elif (
                isinstance(current, list)
                and isinstance(lines, list)
                and isinstance(part, int)
                and 0 <= part < len(lines)
            ):
                line, current = lines[part], current[part]
            else:
                break
        return line


_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _MarkingLoader(_YamlLoader):
    """The safe loader, noting where each key and item is written; a key given twice is refused."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.marks = _Marks()


def _construct_mapping(loader: _MarkingLoader, node: yaml.Node) -> Iterator[dict[Any, Any]]:
    data: dict[Any, Any] = {}
    yield data
    assert isinstance(node, yaml.MappingNode)
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node)
        try:
            seen = first.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping says so
        if seen is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {key!r} twice (first on line {seen})",
                key_node.start_mark,
            )
        first[key] = key_node.start_mark.line + 1
    data.update(loader.construct_mapping(node))
    # After construct_mapping, merged keys come first and written ones override them.
    lines = {loader.construct_object(key): key.start_mark.line + 1 for key, _ in node.value}
    loader.marks.lines[id(data)] = (data, lines)


def _construct_sequence(loader: _MarkingLoader, node: yaml.Node) -> Iterator[list[Any]]:
    data: list[Any] = []
    yield data
    assert isinstance(node, yaml.SequenceNode)
    data.extend(loader.construct_sequence(node))
    loader.marks.lines[id(data)] = (data, [item.start_mark.line + 1 for item in node.value])


_MarkingLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_MarkingLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _read_yaml(text: str, path: Path) -> tuple[object, _Marks]:
    loader = _MarkingLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, loader.marks
        loader.marks.root = node.start_mark.line + 1
        return loader.construct_document(node), loader.marks
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ", ".join(text for text in (exc.context, exc.problem) if text) or "unreadable"
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError(path, line, None, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(path, None, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


def _first_mistake(
    error: ValidationError, data: object, marks: _Marks, path: Path
) -> ScenarioError:
    """The mistake written first in the file, with its line, field path and reason."""
    found: list[tuple[int, int, tuple[str | int, ...], str]] = []
    for order, detail in enumerate(error.errors()):
        loc = tuple(detail["loc"])
        reason = str(detail["msg"]).removeprefix("Value error, ")
        problem = detail.get("ctx", {}).get("error")
        if isinstance(problem, _Misplaced):
            loc, reason = loc + problem.loc, problem.reason
        elif detail["type"] != "value_error" and isinstance(
            detail.get("input"), bool | int | float | str
        ):
            reason += f" (read {detail['input']!r})"
        found.append((marks.line_of(data, loc) or 0, order, loc, reason))
    line, _, loc, reason = min(found)
    return ScenarioError(path, line or None, ".".join(map(str, loc)) or None, reason)


def load_scenario(path: Path) -> Scenario:
    """A checked scenario file; ScenarioError names the file, line and reason of a mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(path, None, None, f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ScenarioError(path, None, None, "not UTF-8 text") from None
    return load_scenario_text(text, path)


def load_scenario_text(text: str, path: Path) -> Scenario:
    """Check the text of a scenario file read from `path` (site files are relative to it)."""
    data, marks = _read_yaml(text, path)
    fields = ", ".join(Scenario.spellings())
    if data is None:
        raise ScenarioError(path, None, None, f"the file is empty; a scenario has: {fields}")
    if not isinstance(data, dict):
        raise ScenarioError(
            path, marks.root, None, f"a scenario is a mapping of its fields ({fields})"
        )
    try:
        scenario = Scenario.model_validate(data, context={_SOURCE: path})
    except ValidationError as exc:
        raise _first_mistake(exc, data, marks, path) from None
    scenario._step_lines = [marks.line_of(data, ("steps", i)) for i in range(len(scenario.steps))]
    return scenario


# --- The JSON Schema ----------------------------------------------------------------------


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file, as editors and CI can check it."""
    generated = Scenario.model_json_schema(by_alias=True, mode="validation")
    generated.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "livebox-lab scenario",
        **generated,
    }


def schema_text() -> str:
    """The schema as the checked-in file holds it."""
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> None:
    """Write the schema file (`python -m labs.scenario` rewrites the checked-in one)."""
    path.write_text(schema_text(), encoding="utf-8")


if __name__ == "__main__":
    write_schema()
