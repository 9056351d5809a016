"""The call record: one leg of a call or one feature activation, and how files of them are read."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from profiles.model import LineName

PARIS = ZoneInfo("Europe/Paris")

#: The record kind of a call; any other kind names a fee of the price annex.
CALL = "call"

FIELDS = (
    "start",
    "line",
    "caller",
    "callee",
    "duration_s",
    "account",
    "disposition",
    "forwarded_from",
    "forward_reason",
    "kind",
)
REQUIRED = ("start", "line", "caller", "callee", "duration_s")


class Disposition(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"


class ForwardReason(enum.StrEnum):
    UNCONDITIONAL = "unconditional"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    #: Redirect-on-failure of the classic line to its continuity number (footnote 15).
    CONTINUITY = "continuity"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One leg of a call placed from (or forwarded by) one of the account's two lines.

    A forwarded or redirected leg is charged to the line that forwarded it: `line` is that
    line, `callee` the number the leg went to, `forwarded_from` the number that forwarded it.
    A feature activation (e.g. the classic line's call transfer) is a record of another
    `kind`, named after its fee in the price annex, with a zero duration.
    """

    start: dt.datetime
    line: LineName
    caller: str
    callee: str
    duration_s: int
    account: str = ""
    disposition: Disposition = Disposition.ANSWERED
    forwarded_from: str | None = None
    forward_reason: ForwardReason | None = None
    kind: str = CALL

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone (use records.parse_start)")
        if self.duration_s < 0:
            raise ValueError("duration_s must not be negative")


class RecordError(ValueError):
    """A row of a call file is wrong; the message names the line, the field and why."""

    def __init__(self, line: int, field: str | None, reason: str) -> None:
        self.line = line
        self.field = field
        self.reason = reason
        where = f"line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {reason}")


def parse_start(text: str) -> dt.datetime:
    """An ISO 8601 time; one without an offset is Paris time, as the offer's months are."""
    moment = dt.datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)


def record_from_row(row: Mapping[str, object], line: int) -> CallRecord:
    """Build a record from one CSV row or JSON object; RecordError names what is wrong."""
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise RecordError(line, unknown[0], f"unknown field; expected some of {', '.join(FIELDS)}")
    values = {k: ("" if v is None else str(v).strip()) for k, v in row.items()}
    for name in REQUIRED:
        if not values.get(name):
            raise RecordError(line, name, "missing value")

    try:
        start = parse_start(values["start"])
    except ValueError:
        raise RecordError(line, "start", f"{values['start']!r} is not an ISO 8601 time") from None
    try:
        duration = int(values["duration_s"])
    except ValueError:
        duration = -1
    if duration < 0:
        raise RecordError(line, "duration_s", f"{values['duration_s']!r} is not a whole number")
    reason = values.get("forward_reason") or None
    forwarded_from = values.get("forwarded_from") or None
    if (reason is None) != (forwarded_from is None):
        raise RecordError(
            line, "forward_reason", "a forwarded leg needs both forwarded_from and forward_reason"
        )
    return CallRecord(
        start=start,
        line=LineName(_member(line, "line", LineName, values["line"])),
        caller=values["caller"],
        callee=values["callee"],
        duration_s=duration,
        account=values.get("account", ""),
        disposition=Disposition(
            _member(line, "disposition", Disposition, values.get("disposition") or "answered")
        ),
        forwarded_from=forwarded_from,
        forward_reason=(
            ForwardReason(_member(line, "forward_reason", ForwardReason, reason))
            if reason
            else None
        ),
        kind=values.get("kind") or CALL,
    )


def _member(line: int, name: str, enum_type: type[enum.StrEnum], text: str) -> str:
    """The text if it names a member of the enum, else a RecordError listing the allowed ones."""
    try:
        return str(enum_type(text))
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise RecordError(line, name, f"{text!r} is not one of {allowed}") from None


def read_records(path: Path) -> list[tuple[int, CallRecord]]:
    """All records of a CSV file (header row) or JSON-lines file, with their line numbers.

    The whole file is read and checked before anything is returned, so that a bad row
    stops the run before any output. Raises RecordError, or OSError if unreadable.
    """
    with path.open(encoding="utf-8", newline="") as stream:
        first = stream.read(1)
        stream.seek(0)
        rows = _json_rows(stream) if first in ("{", "[") else _csv_rows(stream)
        return [(line, record_from_row(row, line)) for line, row in rows]


def _csv_rows(stream: Iterator[str]) -> Iterator[tuple[int, Mapping[str, object]]]:
    reader = csv.DictReader(stream)
    if not reader.fieldnames:
        return
    missing = [name for name in REQUIRED if name not in reader.fieldnames]
    if missing:
        raise RecordError(1, missing[0], "the header row lacks this column")
    for row in reader:
        if None in row:
            raise RecordError(reader.line_num, None, "more values than header columns")
        yield reader.line_num, row


def _json_rows(stream: Iterator[str]) -> Iterator[tuple[int, Mapping[str, object]]]:
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(number, None, f"not a JSON object: {exc.msg}") from None
        if not isinstance(row, dict):
            raise RecordError(number, None, "expected one JSON object per line")
        yield number, row
