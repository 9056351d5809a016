"""External SIP subscribers of the lab, declared on the command line or in a YAML file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from emulator.telephony.registrar import Subscriber
from profiles.catalogue import DataFileError, read_yaml, validate
from profiles.numbering import NumberingPlan


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    number: str
    password: str = Field(min_length=1, repr=False)
    user: str = ""
    display: str = ""

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str, info: ValidationInfo) -> str:
        plan = info.context["plan"] if info.context else None
        return _number(value, plan)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subscribers: list[_Entry]


def _number(text: str, plan: NumberingPlan | None) -> str:
    if plan is None:
        raise ValueError("no numbering plan to read the number with")
    try:
        return plan.classify(text).number
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a phone number: {exc}") from None


def parse_subscriber(text: str, plan: NumberingPlan) -> Subscriber:
    """`NUMBER:PASSWORD` from the command line; the SIP user name is the number (E.164)."""
    number, colon, password = text.partition(":")
    if not colon or not password:
        raise ValueError(f"{text.split(':')[0]!r}: expected NUMBER:PASSWORD")
    e164 = _number(number.strip(), plan)
    return Subscriber(e164, e164, password)


def load_subscribers(path: Path, plan: NumberingPlan) -> list[Subscriber]:
    """The subscribers of a YAML file (`subscribers:` a list of number, password, user).

    Raises DataFileError naming the file, the entry's field and why.
    """
    entries = validate(_File, read_yaml(path), path, context={"plan": plan}).subscribers
    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.number in seen:
            raise DataFileError(path, f"subscribers.{index}.number", f"{entry.number} twice")
        seen.add(entry.number)
        subscribers.append(
            Subscriber(entry.number, entry.user or entry.number, entry.password, entry.display)
        )
    return subscribers
