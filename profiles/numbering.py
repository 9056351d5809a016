"""Classify any number dialled from an Optimale pro line into kind and region, fast and exactly."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NoReturn

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberDesc, PhoneNumberType

__all__ = ["DialledNumber", "NumberKind", "NumberingError", "NumberingPlan", "kind_of"]


class NumberKind(enum.StrEnum):
    """What a dialled number is, as far as the tariff is concerned."""

    FIXED = "fixed"
    MOBILE = "mobile"
    IP = "ip"  # the French "n° IP" (09 numbers)
    SPECIAL = "special"  # premium, shared cost, toll free, UAN, 08xx, 118xxx...
    SHORT = "short"  # French short numbers that are not emergency ones: 1016, 3901...
    EMERGENCY = "emergency"


@dataclass(frozen=True, slots=True)
class DialledNumber:
    """A classified number: `number` is E.164 for full numbers, the bare digits for short ones."""

    dialled: str
    number: str
    kind: NumberKind
    region: str


class NumberingError(ValueError):
    """A dialled number that cannot be classified; the message names it and says why."""


FRANCE: Final = "33"

# The offer's list (footnote 6 and the annex: free "vers les numéros d'urgence").
EMERGENCY_NUMBERS: Final = frozenset(
    {"15", "17", "18", "112", "114", "115", "119", "116000", "191", "196", "197"}
)
DIRECTORY_ENQUIRIES: Final = "118"

# National French prefixes (after the trunk 0) of the overseas departments, which have their own
# country codes and tariffs: "0590 ..." is the Guadeloupe number +590 590 .... The 07 09 x ranges
# are the new overseas mobile blocks that phonenumbers files under the overseas codes.
OVERSEAS_ROUTES: Final[Mapping[str, str]] = {
    "590": "590",
    "690": "590",
    "691": "590",
    "594": "594",
    "694": "594",
    "596": "596",
    "696": "596",
    "697": "596",
    "262": "262",
    "263": "262",
    "692": "262",
    "693": "262",
    "269": "262",
    "639": "262",
    **{f"7090{digit}": "590" for digit in "0123456789"},
    **{f"7091{digit}": "596" for digit in "0123456789"},
    **{f"7092{digit}": "262" for digit in "0123456789"},
    **{f"7093{digit}": "594" for digit in "0123"},
    **{f"7093{digit}": "262" for digit in "567"},
}
OVERSEAS_CODES: Final = frozenset(OVERSEAS_ROUTES.values())
_OVERSEAS_HEADS: Final = frozenset(prefix[:3] for prefix in OVERSEAS_ROUTES)

_MAX_NATIONAL_LENGTH: Final = 17  # phonenumbers' longest national significant number
# Prefixes still undecided at this depth, or needing more entries than this under them, are
# left to phonenumbers' parser. No metadata of phonenumbers 9.0 needs either (depth 7 at most).
_MAX_TABLE_DEPTH: Final = 12
_MAX_ENTRIES_PER_PREFIX: Final = 100_000
_MAX_HEAD_DEPTH: Final = 4  # up to 10**4 head prefixes per calling code
_NATIONAL_HEAD_DEPTH: Final = 4
_NON_GEOGRAPHIC: Final = "001"  # phonenumbers' region for global services (+800, +882...)
_SEPARATORS: Final = (".", "-", "(", ")")  # after whitespace

_KIND_OF_TYPE: Final[Mapping[int, NumberKind]] = {
    PhoneNumberType.FIXED_LINE: NumberKind.FIXED,
    # Numbers that cannot be told fixed from mobile (North America...) are rated as fixed.
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED,
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.PAGER: NumberKind.MOBILE,
    # Only French 09 numbers are the offer's "n° IP"; VoIP ranges elsewhere (overseas 0976...
    # included) are rated like the fixed lines of their region.
    PhoneNumberType.VOIP: NumberKind.FIXED,
    PhoneNumberType.TOLL_FREE: NumberKind.SPECIAL,
    PhoneNumberType.PREMIUM_RATE: NumberKind.SPECIAL,
    PhoneNumberType.SHARED_COST: NumberKind.SPECIAL,
    PhoneNumberType.PERSONAL_NUMBER: NumberKind.SPECIAL,
    PhoneNumberType.UAN: NumberKind.SPECIAL,
    PhoneNumberType.VOICEMAIL: NumberKind.SPECIAL,
}


def kind_of(number_type: int, region: str) -> NumberKind | None:
    """The tariff kind of a phonenumbers type in a region; None for UNKNOWN."""
    if number_type == PhoneNumberType.VOIP and region == "FR":
        return NumberKind.IP
    return _KIND_OF_TYPE.get(number_type)


# ---------------------------------------------------------------------------------------------
# Patterns as automata. phonenumbers' patterns use digits, classes, \d, (?:...), |, ?, {n,m}:
# reading them as automata tells exactly which numbers a prefix can still lead to, so the tables
# below never guess.


class _UnsupportedPatternError(ValueError):
    """A metadata pattern using syntax the automaton does not read; its code falls back."""


@dataclass(frozen=True, slots=True)
class _Digits:
    mask: int  # bit d set when digit d is accepted


@dataclass(frozen=True, slots=True)
class _Sequence:
    parts: tuple[_Regex, ...]


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[_Regex, ...]


@dataclass(frozen=True, slots=True)
class _Repeat:
    body: _Regex
    least: int
    most: int | None


_Regex = _Digits | _Sequence | _Choice | _Repeat
_ANY_DIGIT: Final = 0b11_1111_1111
_BOUNDS: Final = re.compile(r"\{(?P<least>\d+)(?P<comma>,(?P<most>\d*))?\}")


class _PatternReader:
    """Recursive-descent reader for the regular-expression subset used by phonenumbers."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.position = 0

    def read(self) -> _Regex:
        regex = self._choice()
        if self.position != len(self.pattern):
            self._unsupported()
        return regex

    def _peek(self) -> str:
        return self.pattern[self.position] if self.position < len(self.pattern) else ""

    def _unsupported(self) -> NoReturn:
        raise _UnsupportedPatternError(
            f"pattern {self.pattern!r}: unsupported syntax at position {self.position}"
        )

    def _choice(self) -> _Regex:
        options = [self._sequence()]
        while self._peek() == "|":
            self.position += 1
            options.append(self._sequence())
        return options[0] if len(options) == 1 else _Choice(tuple(options))

    def _sequence(self) -> _Regex:
        parts: list[_Regex] = []
        while self._peek() not in ("", "|", ")"):
            parts.append(self._quantified(self._atom()))
        return parts[0] if len(parts) == 1 else _Sequence(tuple(parts))  # () matches ""

    def _atom(self) -> _Regex:
        char = self._peek()
        self.position += 1
        if char.isdigit() and char.isascii():
            return _Digits(1 << int(char))
        if char == "\\" and self._peek() == "d":
            self.position += 1
            return _Digits(_ANY_DIGIT)
        if char == "[":
            return self._digit_class()
        if char == "(":
            if self.pattern.startswith("?:", self.position):
                self.position += 2
            inner = self._choice()
            if self._peek() != ")":
                self._unsupported()
            self.position += 1
            return inner
        self.position -= 1
        return self._unsupported()

    def _digit_class(self) -> _Regex:
        mask = 0
        while self._peek() != "]":
            if self.pattern.startswith("\\d", self.position):
                self.position += 2
                mask |= _ANY_DIGIT
                continue
            low = self._class_digit()
            high = low
            if self._peek() == "-":
                self.position += 1
                high = self._class_digit()
            for digit in range(low, high + 1):
                mask |= 1 << digit
        self.position += 1
        return _Digits(mask)

    def _class_digit(self) -> int:
        char = self._peek()
        if not (char.isdigit() and char.isascii()):
            self._unsupported()
        self.position += 1
        return int(char)

    def _quantified(self, atom: _Regex) -> _Regex:
        while True:
            char = self._peek()
            if char == "?":
                self.position += 1
                atom = _Repeat(atom, 0, 1)
            elif char == "*":
                self.position += 1
                atom = _Repeat(atom, 0, None)
            elif char == "+":
                self.position += 1
                atom = _Repeat(atom, 1, None)
            elif char == "{":
                bounds = _BOUNDS.match(self.pattern, self.position)
                if bounds is None:
                    self._unsupported()
                self.position = bounds.end()
                least = int(bounds["least"])
                if bounds["comma"] is None:
                    most: int | None = least
                else:
                    most = int(bounds["most"]) if bounds["most"] else None
                atom = _Repeat(atom, least, most)
            else:
                return atom


class _Automaton:
    """Deterministic digit automaton of one pattern, built lazily from its Thompson NFA."""

    def __init__(self, pattern: str) -> None:
        self._moves: list[list[tuple[int, int]]] = []
        self._skips: list[list[int]] = []
        start = self._state()
        self._final = self._emit(_PatternReader(pattern).read(), start)
        self._closures = [self._closure(state) for state in range(len(self._moves))]
        first = self._closures[start]
        self._sets: list[frozenset[int]] = [first]
        self._ids: dict[frozenset[int], int] = {first: 0}
        self._rows: list[tuple[int, ...] | None] = [None]
        self.accepting: list[bool] = [self._final in first]

    def _state(self) -> int:
        self._moves.append([])
        self._skips.append([])
        return len(self._moves) - 1

    def _emit(self, regex: _Regex, start: int) -> int:
        """Add the NFA fragment of `regex` leaving `start`; return its end state."""
        if isinstance(regex, _Digits):
            end = self._state()
            self._moves[start].append((regex.mask, end))
            return end
        if isinstance(regex, _Sequence):
            for part in regex.parts:
                start = self._emit(part, start)
            return start
        if isinstance(regex, _Choice):
            end = self._state()
            for option in regex.options:
                self._skips[self._emit(option, self._fresh_from(start))].append(end)
            return end
        for _ in range(regex.least):
            start = self._emit(regex.body, self._fresh_from(start))
        end = self._state()
        self._skips[start].append(end)
        if regex.most is None:
            loop = self._fresh_from(start)
            self._skips[self._emit(regex.body, loop)].append(loop)
            self._skips[loop].append(end)
            return end
        for _ in range(regex.most - regex.least):
            start = self._emit(regex.body, self._fresh_from(start))
            self._skips[start].append(end)
        return end

    def _fresh_from(self, state: int) -> int:
        # A fresh entry state keeps fragments from sharing states, so no loop leaks into them.
        fresh = self._state()
        self._skips[state].append(fresh)
        return fresh

    def _closure(self, state: int) -> frozenset[int]:
        seen = {state}
        todo = [state]
        while todo:
            for target in self._skips[todo.pop()]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return frozenset(seen)

    def row(self, state: int) -> tuple[int, ...]:
        """The state reached on each digit 0-9 (-1: no match possible any more)."""
        row = self._rows[state]
        if row is None:
            targets: list[set[int]] = [set() for _ in range(10)]
            for nfa_state in self._sets[state]:
                for mask, target in self._moves[nfa_state]:
                    for digit in range(10):
                        if mask >> digit & 1:
                            targets[digit] |= self._closures[target]
            row = tuple(self._intern(frozenset(states)) for states in targets)
            self._rows[state] = row
        return row

    def _intern(self, states: frozenset[int]) -> int:
        if not states:
            return -1
        found = self._ids.get(states)
        if found is None:
            found = len(self._sets)
            self._ids[states] = found
            self._sets.append(states)
            self._rows.append(None)
            self.accepting.append(self._final in states)
        return found


# ---------------------------------------------------------------------------------------------
# Tables of decided prefixes, one per country calling code.

_YES: Final = -2  # a leading-digits pattern already matched (phonenumbers uses re.match on them)
_State = tuple[tuple[int, int], ...]  # (component, automaton state) of the live components
_Outcome = tuple[NumberKind, str]  # (kind, region)
_Decided = tuple[NumberKind, str, str]  # (kind, region, "+" and calling code) in table entries
_Desc = tuple[int, frozenset[int] | None] | None  # (component, possible lengths) of a type

# phonenumbers' order of checks in _number_type_helper, before fixed line and mobile.
_PRIORITY_TYPES: Final = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


@dataclass(frozen=True, slots=True)
class _RegionRules:
    region: str
    leading_digits: int | None  # component, used only when several regions share the code
    general: _Desc
    ordered: tuple[tuple[_Desc, int], ...]
    fixed: _Desc
    mobile: _Desc
    same_fixed_and_mobile: bool


_Profile = frozenset[tuple[int, _Outcome]]  # (length, outcome) pairs


@dataclass(frozen=True, slots=True)
class _Summary:
    """What is known of every number under a prefix (a node of the digit tree)."""

    outcomes: _Profile  # (length, outcome) of every valid number under the prefix
    free: bool  # validity and outcome under the prefix depend on the length only
    entries: int  # table entries the prefix needs (1 when free, else those of its children)


_DEAD: Final = _Summary(frozenset(), True, 1)

# A table entry maps a national-number length to its outcome. These two empty ones are told
# apart by identity: no number under the prefix is valid / the table leaves it to phonenumbers.
_Entry = Mapping[int, _Decided]
_INVALID: Final[_Entry] = {}
_UNDECIDED: Final[_Entry] = {}


@dataclass(frozen=True, slots=True)
class _CodeTable:
    code: str
    plus_code: str
    entries: Mapping[str, _Entry]  # decided prefixes: no one is the prefix of another
    depths: tuple[int, ...]  # prefix lengths present in entries, ascending
    lengths: frozenset[int]  # every length of a valid national number of the code
    # The valid entries no deeper than head_depth, spread over every prefix of exactly that
    # length and keyed by code + prefix, so most numbers are found with one dictionary look-up.
    head_depth: int
    heads: Mapping[str, _Entry]


def _code_table(code: str, entries: Mapping[str, _Entry], lengths: frozenset[int]) -> _CodeTable:
    depths = tuple(sorted({len(prefix) for prefix in entries}))
    head_depth = min(depths[-1], _MAX_HEAD_DEPTH)
    heads: dict[str, _Entry] = {}
    for prefix, entry in entries.items():
        if entry and len(prefix) <= head_depth:
            for suffix in _all_digit_strings(head_depth - len(prefix)):
                heads[code + prefix + suffix] = entry
    return _CodeTable(code, "+" + code, entries, depths, lengths, head_depth, heads)


def _all_digit_strings(length: int) -> list[str]:
    return [str(number).zfill(length) for number in range(10**length)] if length else [""]


def _metadata(code: str, region: str) -> PhoneMetadata:
    if region == _NON_GEOGRAPHIC:
        metadata = PhoneMetadata.metadata_for_nongeo_region(int(code), None)
    else:
        metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:  # pragma: no cover - phonenumbers lists only regions it has
        raise LookupError(f"phonenumbers has no metadata for region {region} of +{code}")
    return metadata


class _TableBuilder:
    """Walks the digit tree of one calling code down to prefixes whose outcome is decided."""

    def __init__(self, code: str, overrides: Mapping[str, NumberKind]) -> None:
        self.code = code
        self.regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)]
        self.shared = len(self.regions) > 1
        self.automata: list[_Automaton] = []
        self.prefix_component: list[bool] = []
        self._component_ids: dict[tuple[str, bool], int] = {}
        self.rules = tuple(self._rules(region) for region in self.regions)
        self._summaries: dict[tuple[_State, int], _Summary] = {}
        # Overrides are E.164 prefixes: those shorter than the code apply to all of it.
        self.base_override = _longest_override(overrides, code)
        self.overrides = {
            key[len(code) :]: kind
            for key, kind in overrides.items()
            if key.startswith(code) and len(key) > len(code)
        }
        self._override_paths = {key[:depth] for key in self.overrides for depth in range(len(key))}

    def _component(self, pattern: str, is_prefix: bool) -> int:
        key = (pattern, is_prefix)
        found = self._component_ids.get(key)
        if found is None:
            found = len(self.automata)
            self._component_ids[key] = found
            self.automata.append(_Automaton(pattern))
            self.prefix_component.append(is_prefix)
        return found

    def _desc(self, desc: PhoneNumberDesc | None) -> _Desc:
        if desc is None or not desc.national_number_pattern:
            return None
        lengths = frozenset(desc.possible_length) if desc.possible_length else None
        return (self._component(desc.national_number_pattern, False), lengths)

    def _rules(self, region: str) -> _RegionRules:
        metadata = _metadata(self.code, region)
        leading = None
        if self.shared and metadata.leading_digits is not None:
            leading = self._component(metadata.leading_digits, True)
        return _RegionRules(
            region=region,
            leading_digits=leading,
            general=self._desc(metadata.general_desc),
            ordered=tuple(
                (self._desc(getattr(metadata, name)), number_type)
                for name, number_type in _PRIORITY_TYPES
            ),
            fixed=self._desc(metadata.fixed_line),
            mobile=self._desc(metadata.mobile),
            same_fixed_and_mobile=bool(metadata.same_mobile_and_fixed_line_pattern),
        )

    def start(self) -> _State:
        state = []
        for component, automaton in enumerate(self.automata):
            matched = self.prefix_component[component] and automaton.accepting[0]
            state.append((component, _YES if matched else 0))
        return tuple(state)

    def step(self, state: _State, digit: int) -> _State:
        stepped = []
        for component, at in state:
            if at != _YES:
                at = self.automata[component].row(at)[digit]
                if at < 0:
                    continue
                if self.prefix_component[component] and self.automata[component].accepting[at]:
                    at = _YES
            stepped.append((component, at))
        return tuple(stepped)

    def _alive(self, state: _State) -> bool:
        return any(not self.prefix_component[component] for component, _ in state)

    # phonenumbers' region_code_for_number and number_type, on a whole number.
    def outcome(self, state: _State, length: int) -> _Outcome | None:
        accepted = {
            component
            for component, at in state
            if at == _YES or (at >= 0 and self.automata[component].accepting[at])
        }
        if not any(not self.prefix_component[component] for component in accepted):
            return None
        if not self.shared:
            return self._type_outcome(self.rules[0], accepted, length)
        for rules in self.rules:
            if rules.leading_digits is not None:
                if rules.leading_digits in accepted:
                    return self._type_outcome(rules, accepted, length)
                continue
            found = self._type_outcome(rules, accepted, length)
            if found is not None:
                return found
        return None

    @staticmethod
    def _matches(desc: _Desc, accepted: set[int], length: int) -> bool:
        if desc is None:
            return False
        component, lengths = desc
        return component in accepted and (lengths is None or length in lengths)

    def _type_outcome(
        self, rules: _RegionRules, accepted: set[int], length: int
    ) -> _Outcome | None:
        number_type: int | None = None
        if not self._matches(rules.general, accepted, length):
            return None
        for desc, candidate in rules.ordered:
            if self._matches(desc, accepted, length):
                number_type = candidate
                break
        else:
            if self._matches(rules.fixed, accepted, length):
                number_type = PhoneNumberType.FIXED_LINE
            elif not rules.same_fixed_and_mobile and self._matches(rules.mobile, accepted, length):
                number_type = PhoneNumberType.MOBILE
        if number_type is None:
            return None
        kind = kind_of(number_type, rules.region)
        return None if kind is None else (kind, rules.region)

    def summary(self, state: _State, depth: int) -> _Summary:
        key = (state, depth)
        found = self._summaries.get(key)
        if found is not None:
            return found
        here = self.outcome(state, depth) if depth else None
        outcomes: set[tuple[int, _Outcome]] = set() if here is None else {(depth, here)}
        free = True
        entries = 0
        first: _Profile | None = None
        if depth < _MAX_NATIONAL_LENGTH:
            for digit in range(10):
                child = self.step(state, digit)
                below = self.summary(child, depth + 1) if self._alive(child) else _DEAD
                outcomes |= below.outcomes
                entries += below.entries
                if first is None:
                    first = below.outcomes
                free = free and below.free and below.outcomes == first
        if free or not outcomes or depth >= _MAX_TABLE_DEPTH:
            entries = 1
        found = _Summary(frozenset(outcomes), free, entries)
        self._summaries[key] = found
        return found

    def build(self) -> _CodeTable:
        entries: dict[str, _Entry] = {}
        interned: dict[frozenset[tuple[int, _Decided]], _Entry] = {}
        self._materialize("", self.start(), entries, interned)
        root = self.summary(self.start(), 0)
        return _code_table(self.code, entries, frozenset(length for length, _ in root.outcomes))

    def _materialize(
        self,
        prefix: str,
        state: _State,
        entries: dict[str, _Entry],
        interned: dict[frozenset[tuple[int, _Decided]], _Entry],
    ) -> None:
        summary = self.summary(state, len(prefix)) if self._alive(state) else _DEAD
        if not summary.outcomes:
            entries[prefix] = _INVALID
            return
        split = prefix in self._override_paths
        if not split and summary.free:
            kind = self._override(prefix)
            plus_code = "+" + self.code
            pairs = frozenset(
                (length, (kind or outcome[0], outcome[1], plus_code))
                for length, outcome in summary.outcomes
            )
            entry = interned.get(pairs)
            if entry is None:
                entry = interned[pairs] = dict(pairs)
            entries[prefix] = entry
            return
        if not split and (
            len(prefix) >= _MAX_TABLE_DEPTH or summary.entries > _MAX_ENTRIES_PER_PREFIX
        ):
            entries[prefix] = _UNDECIDED
            return
        for digit in range(10):
            self._materialize(prefix + str(digit), self.step(state, digit), entries, interned)

    def _override(self, prefix: str) -> NumberKind | None:
        for depth in range(len(prefix), 0, -1):
            kind = self.overrides.get(prefix[:depth])
            if kind is not None:
                return kind
        return self.base_override


def _longest_override(overrides: Mapping[str, NumberKind], digits: str) -> NumberKind | None:
    for depth in range(len(digits), 0, -1):
        kind = overrides.get(digits[:depth])
        if kind is not None:
            return kind
    return None


def _fallback_table(code: str) -> _CodeTable:
    """A table sending every number of the code to phonenumbers (unreadable metadata)."""
    return _code_table(code, {"": _UNDECIDED}, frozenset())


# ---------------------------------------------------------------------------------------------
# French short numbers.


@dataclass(frozen=True, slots=True)
class _ShortNumberRule:
    pattern: re.Pattern[str]
    lengths: frozenset[int]  # empty: any length

    def allows(self, digits: str) -> bool:
        return (not self.lengths or len(digits) in self.lengths) and bool(
            self.pattern.fullmatch(digits)
        )


def _short_number_rules() -> tuple[_ShortNumberRule, _ShortNumberRule]:
    """phonenumbers' test for a valid French short number: its general and short-code rules."""
    metadata = PhoneMetadata.short_metadata_for_region("FR", None)
    if metadata is None:  # pragma: no cover - shipped with phonenumbers
        raise LookupError("phonenumbers has no French short-number metadata")
    general, short_code = (
        _ShortNumberRule(
            re.compile((desc and desc.national_number_pattern) or "(?!)", re.ASCII),
            frozenset(desc.possible_length if desc else ()),
        )
        for desc in (metadata.general_desc, metadata.short_code)
    )
    return general, short_code


_SHORT_GENERAL, _SHORT_CODE = _short_number_rules()


def _short_kind(digits: str) -> NumberKind | None:
    if digits in EMERGENCY_NUMBERS:
        return NumberKind.EMERGENCY
    if not (_SHORT_GENERAL.allows(digits) and _SHORT_CODE.allows(digits)):
        return None
    if digits.startswith(DIRECTORY_ENQUIRIES):
        return NumberKind.SPECIAL
    return NumberKind.SHORT


# ---------------------------------------------------------------------------------------------


# Setting the slots directly builds a DialledNumber in half the time of its frozen __init__,
# which would otherwise be the largest cost of classifying a number.
_new_dialled_number = object.__new__
_set_dialled, _set_number, _set_kind, _set_region = (
    vars(DialledNumber)[field].__set__ for field in ("dialled", "number", "kind", "region")
)


def _dialled_number(dialled: str, number: str, kind: NumberKind, region: str) -> DialledNumber:
    result = _new_dialled_number(DialledNumber)
    _set_dialled(result, dialled)
    _set_number(result, number)
    _set_kind(result, kind)
    _set_region(result, region)
    return result


class NumberingPlan:
    """Classifies dialled numbers with per-calling-code tables of decided prefixes.

    Inputs: national French numbers (`01 23 45 67 89`), `+CC...` / `00CC...` international
    numbers and French short numbers (`15`, `3901`, `118712`). Spaces, dots, dashes and
    parentheses are ignored.

    Readings taken:
    - Validity, kind and region are phonenumbers' (`is_valid_number`, `number_type`,
      `region_code_for_number`), computed ahead of time from its metadata: a number is accepted
      exactly when phonenumbers says it is valid, never on its prefix and length alone.
    - A trunk prefix written after the country code (`+33 0 1 23...`, `+44 (0)20...`) is
      dropped when the number is invalid with it and valid without it, as users mean it;
      Italy's leading 0 (`+39 06...`) belongs to the number and is kept.
    - Overseas prefixes (OVERSEAS_ROUTES) are routed to their own codes when dialled
      nationally only: `+33 2 63...` stays what phonenumbers says (metropolitan fixed) and
      `+33 590...` is refused. National 09 numbers are all metropolitan IP numbers, since
      phonenumbers gives France the whole 09 block.
    - Numbers of global services (+800, +870, +881, +882, +883...) have phonenumbers' world
      region "001", which is not an ISO 3166 code.
    - Short numbers are those of phonenumbers' French short-number metadata: emergency ones
      (EMERGENCY_NUMBERS) are EMERGENCY, directory enquiries (118xxx) SPECIAL, others SHORT.
    """

    def __init__(self, kind_overrides: Mapping[str, NumberKind] | None = None) -> None:
        overrides: dict[str, NumberKind] = {}
        for prefix, kind in (kind_overrides or {}).items():
            if not (prefix.isascii() and prefix.isdigit()):
                raise NumberingError(
                    f"kind override {prefix!r}: an E.164 prefix is digits only, without '+'"
                )
            try:
                overrides[prefix] = NumberKind(kind)
            except ValueError:
                raise NumberingError(
                    f"kind override {prefix!r}: {kind!r} is not a number kind"
                ) from None
        self._overrides: Mapping[str, NumberKind] = overrides
        self._known_codes = frozenset(
            str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        )
        self._tables: dict[str, _CodeTable] = {}
        # Built tables by the first three digits after "+" (calling codes are prefix-free), and
        # the same with what the fast path needs: (heads, code length, head key length).
        self._tables_by_head: dict[str, _CodeTable] = {}
        self._routes: dict[str, tuple[Mapping[str, _Entry], int, int]] = {}
        self._france = self._table(FRANCE)
        self._overseas = {code: self._table(code) for code in sorted(OVERSEAS_CODES)}
        self._national_heads = self._national_french_heads()

    def _national_french_heads(self) -> Mapping[str, _Entry]:
        """Heads of national numbers (without the trunk 0), overseas ones included."""
        heads: dict[str, _Entry] = {}
        for prefix in _all_digit_strings(_NATIONAL_HEAD_DEPTH):
            code = OVERSEAS_ROUTES.get(prefix[:3])
            if code is None and prefix[:3] in _OVERSEAS_HEADS:
                continue  # routed on more digits than the head has: left to the full path
            table = self._overseas[code] if code else self._france
            if table.head_depth <= _NATIONAL_HEAD_DEPTH:
                entry = table.heads.get(table.code + prefix[: table.head_depth])
                if entry is not None:
                    heads[prefix] = entry
        return heads

    @property
    def built_codes(self) -> frozenset[str]:
        """Calling codes whose table is built (France and overseas at once, others lazily)."""
        return frozenset(self._tables)

    def table_size(self, code: str) -> int:
        """Number of decided prefixes in the table of a calling code, building it if needed."""
        return len(self._table(code).entries)

    def _table(self, code: str) -> _CodeTable:
        table = self._tables.get(code)
        if table is None:
            try:
                table = _TableBuilder(code, self._overrides).build()
            except _UnsupportedPatternError:
                table = _fallback_table(code)
            self._tables[code] = table
            route = (table.heads, len(code), len(code) + table.head_depth)
            for suffix in _all_digit_strings(3 - len(code)):
                self._tables_by_head[code + suffix] = table
                self._routes[code + suffix] = route
        return table

    def classify(self, dialled: str) -> DialledNumber:
        """Kind, region and canonical form of a dialled number; NumberingError if invalid."""
        # Fast path for the clean forms "0123456789" and "+33123456789", about a dictionary
        # look-up; other forms, and numbers the heads do not decide, take the complete path.
        if dialled.isdigit():
            if len(dialled) != 10 or dialled[0] != "0":
                return self._classify_written(dialled)
            national = dialled[1:]
            entry = self._national_heads.get(national[:_NATIONAL_HEAD_DEPTH])
            if entry is None:
                return self._classify_written(dialled)
            outcome = entry.get(9)
            number = None if outcome is None else outcome[2] + national
        elif dialled[:1] == "+":
            digits = dialled[1:]
            route = self._routes.get(digits[:3])
            if route is None or not digits.isdigit():
                return self._classify_written(dialled)
            heads, code_length, head_end = route
            entry = heads.get(digits[:head_end])
            if entry is None:
                return self._classify_written(dialled)
            outcome = entry.get(len(digits) - code_length)
            number = dialled
        else:
            return self._classify_written(dialled)
        if outcome is None or not dialled.isascii():
            return self._classify_written(dialled)
        result = _new_dialled_number(DialledNumber)
        _set_dialled(result, dialled)
        _set_number(result, number)
        _set_kind(result, outcome[0])
        _set_region(result, outcome[1])
        return result

    def _classify_written(self, dialled: str) -> DialledNumber:
        """The complete path: separators, 00 prefix, overseas, short numbers and errors."""
        digits = dialled
        if not (dialled.isdigit() or (dialled[:1] == "+" and dialled[1:].isdigit())):
            digits = "".join(dialled.split())  # whitespace, the usual separator, in one go
            if not digits[1:].isdigit():
                for separator in _SEPARATORS:
                    digits = digits.replace(separator, "")
        international = digits.startswith("+")
        if international:
            digits = digits[1:]
        if digits and not (digits.isdigit() and digits.isascii()):
            raise NumberingError(self._garbage(dialled))
        if international or digits.startswith("00"):
            return self._international(dialled, digits if international else digits[2:])
        if not digits:
            raise NumberingError(self._garbage(dialled))
        if digits.startswith("0"):
            return self._national(dialled, digits)
        kind = _short_kind(digits) if len(digits) <= 6 else None
        if kind is None:
            raise NumberingError(self._not_short(dialled, digits))
        return _dialled_number(dialled, digits, kind, "FR")

    def _national(self, dialled: str, digits: str) -> DialledNumber:
        if len(digits) != 10:
            raise NumberingError(
                f"{dialled!r}: a French national number has 10 digits, not {len(digits)}"
            )
        national = digits[1:]
        code = OVERSEAS_ROUTES.get(national[:3]) or OVERSEAS_ROUTES.get(national[:5])
        table = self._france if code is None else self._overseas[code]
        return self._lookup(dialled, table, national, "0")

    def _international(self, dialled: str, digits: str) -> DialledNumber:
        table = self._tables_by_head.get(digits[:3])
        if table is None:
            for size in (1, 2, 3):
                if digits[:size] in self._known_codes:
                    table = self._table(digits[:size])
                    break
            else:
                raise NumberingError(self._unknown_code(dialled, digits))
        national = digits[len(table.code) :]
        try:
            return self._lookup(dialled, table, national, table.plus_code + " ")
        except NumberingError:
            corrected = self._without_trunk_prefix(dialled, table, national)
            if corrected is None:
                raise
            return corrected

    def _lookup(self, dialled: str, table: _CodeTable, national: str, shown: str) -> DialledNumber:
        entries = table.entries
        for depth in table.depths:
            entry = entries.get(national[:depth])
            if entry is not None:
                break
        else:
            raise NumberingError(self._too_short(dialled, table, national, shown))
        outcome = entry.get(len(national))
        if outcome is None:
            if entry is _UNDECIDED:
                return self._parse(dialled, table, national, shown)
            prefix = shown + national[:depth]
            if entry is _INVALID:
                raise NumberingError(
                    f"{dialled!r}: no number starts with {prefix}"
                    " (prefix allocated to no type of number)"
                )
            raise NumberingError(self._bad_length(dialled, table, national, prefix, entry))
        return _dialled_number(dialled, outcome[2] + national, outcome[0], outcome[1])

    def _parse(self, dialled: str, table: _CodeTable, national: str, shown: str) -> DialledNumber:
        """The slow exact path, for the few prefixes the table leaves undecided."""
        zeros = len(national) - len(national.lstrip("0") or "0")
        parsed = phonenumbers.PhoneNumber(
            country_code=int(table.code),
            national_number=int(national or "0"),
            italian_leading_zero=zeros > 0 or None,
            number_of_leading_zeros=zeros if zeros > 1 else None,
        )
        region = phonenumbers.region_code_for_number(parsed)
        kind = None
        if national and region is not None and phonenumbers.is_valid_number(parsed):
            kind = kind_of(phonenumbers.number_type(parsed), region)
        if kind is None or region is None:
            raise NumberingError(
                f"{dialled!r}: {shown}{national} is not a valid number of +{table.code}"
            )
        kind = _longest_override(self._overrides, table.code + national) or kind
        return DialledNumber(dialled, table.plus_code + national, kind, region)

    def _without_trunk_prefix(
        self, dialled: str, table: _CodeTable, national: str
    ) -> DialledNumber | None:
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(table.code)]
        trunk = _metadata(table.code, regions[0]).national_prefix
        if not trunk or not national.startswith(trunk) or len(national) == len(trunk):
            return None
        try:
            return self._lookup(dialled, table, national[len(trunk) :], table.plus_code + " ")
        except NumberingError:
            return None

    # Messages.
    @staticmethod
    def _garbage(dialled: str) -> str:
        if not dialled.strip():
            return f"{dialled!r}: empty number"
        return (
            f"{dialled!r}: a number has only digits, an optional leading '+' and separators "
            "(spaces, dots, dashes, parentheses)"
        )

    @staticmethod
    def _unknown_code(dialled: str, digits: str) -> str:
        if not digits:
            return f"{dialled!r}: no number after the international prefix"
        codes = ", ".join(f"+{digits[:size]}" for size in (1, 2, 3) if len(digits) >= size)
        return f"{dialled!r}: no country has the calling code {codes}"

    @staticmethod
    def _not_short(dialled: str, digits: str) -> str:
        if len(digits) == 1 or len(digits) > 6:
            return (
                f"{dialled!r}: a short number has 2 to 6 digits (not {len(digits)})"
                " and a full number starts with 0, 00 or +"
            )
        return f"{dialled!r}: {digits} is not a French short number"

    @staticmethod
    def _too_short(dialled: str, table: _CodeTable, national: str, shown: str) -> str:
        if not national:
            return f"{dialled!r}: nothing after the country code +{table.code}"
        least = min(table.lengths, default=0)
        return (
            f"{dialled!r}: {shown}{national} is too short for a number of +{table.code}"
            f" ({len(national)} digits after the code, at least {least})"
        )

    @staticmethod
    def _bad_length(
        dialled: str, table: _CodeTable, national: str, prefix: str, entry: _Entry
    ) -> str:
        lengths = sorted(entry)
        verdict = (
            "too short"
            if len(national) < lengths[0]
            else "too long"
            if len(national) > lengths[-1]
            else "of the wrong length"
        )
        regions = "/".join(sorted({outcome[1] for outcome in entry.values()}))
        allowed = ", ".join(str(length) for length in lengths)
        return (
            f"{dialled!r}: {verdict} for a number of {regions} starting with {prefix}"
            f" ({len(national)} digits after +{table.code}, expected {allowed})"
        )
