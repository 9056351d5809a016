"""The Livebox pro data model: every object and parameter of its tree, with types and rules."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import netaddr  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from profiles.catalogue import DATA_DIR, read_yaml, validate

DATAMODEL_FILE = DATA_DIR / "datamodel.yaml"

#: What a read of a write-only parameter (a secret) shows.
MASK = "********"

ParameterType = Literal[
    "string",
    "boolean",
    "int",
    "unsigned",
    "enum",
    "ipv4-address",
    "ipv4-netmask",
    "ipv4-address-list",
    "port",
    "mac-address",
    "hostname",
    "phone-number",
    "secret",
    "datetime",
]
Access = Literal["read-write", "read-only"]
PathKind = Literal["parameter", "object", "table"]

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "unsigned": (0, 2**32 - 1), "port": (1, 65535)}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{12}")
_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PHONE = re.compile(r"\+?[0-9]{2,20}")
_PHONE_SEPARATORS = str.maketrans("", "", " .-")
_OBJECT_PATH = re.compile(r"Device\.(([A-Za-z][A-Za-z0-9_-]*|[0-9]+|\{i\})\.)*")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_SHOWN_LENGTH = 80


# --- Errors ------------------------------------------------------------------------------


class DataModelError(ValueError):
    """Something asked of the data model that it does not allow; the message says what."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


class UnknownPath(DataModelError):
    """No such object, parameter or method; the message names the path and what is close."""

    def __init__(self, path: str, reason: str) -> None:
        self.reason = reason
        super().__init__(path, f"{path}: {reason}")


class ValueRejected(DataModelError):
    """A value its parameter does not accept: names the path, the value (never a secret), why."""

    def __init__(self, path: str, value: str, reason: str, *, secret: bool = False) -> None:
        self.value = MASK if secret else value
        self.reason = reason
        super().__init__(path, f"{path}: {show_value(value, secret=secret)} {reason}")


class RuleViolation(DataModelError):
    """Values that are each valid but break a rule between parameters of an object."""


class CallRejected(DataModelError):
    """A method call with an unknown or missing argument."""


def show_value(value: str, *, secret: bool = False) -> str:
    """A value as error messages quote it: a secret never, a long value cut short."""
    if secret:
        return "(hidden value)"
    if len(value) > _SHOWN_LENGTH:
        value = value[: _SHOWN_LENGTH - 3] + "..."
    return repr(value)


class _Refused(Exception):
    """Internal: why a text is not a value of a type (turned into ValueRejected with its path)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- The file's models -------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(_Spec):
    """One parameter (or method argument): its type, access, default and rules."""

    name: str = ""
    path: str = ""
    type: ParameterType
    access: Access = "read-write"
    default: str | None = None
    required: bool = False
    allow_empty: bool = False
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    pattern_hint: str | None = None
    min: int | None = None
    max: int | None = None
    values: tuple[str, ...] = ()
    description: str = ""

    @field_validator("default", mode="before")
    @classmethod
    def _default_as_text(cls, value: object) -> object:
        # YAML reads `default: 1` as a number and `default: true` as a boolean.
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int):
            return str(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ParameterSpec:
        kind = self.type
        if self.values and kind != "enum":
            raise ValueError(f"'values' is for enum parameters, not {kind}")
        if kind == "enum" and (not self.values or len(set(self.values)) != len(self.values)):
            raise ValueError("an enum needs a list of distinct values")
        if (self.min is not None or self.max is not None) and kind not in ("int", "unsigned"):
            raise ValueError(f"'min' and 'max' are for int and unsigned parameters, not {kind}")
        low, high = self.bounds
        if low > high or (kind == "unsigned" and low < 0):
            raise ValueError(f"the range {low} to {high} is empty or below 0 for an unsigned")
        textual = ("string", "secret")
        if (self.max_length or self.pattern or self.pattern_hint) and kind not in textual:
            raise ValueError(f"'max_length' and 'pattern' are for strings and secrets, not {kind}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"the pattern does not compile: {exc}") from None
        if self.required and self.default is not None:
            raise ValueError("a required parameter has no default")
        if (self.required or kind == "secret") and self.access == "read-only":
            raise ValueError(f"a {'secret' if kind == 'secret' else 'required'} is read-write")
        if self.default is None:
            if not (self.required or self.name == "Alias"):
                raise ValueError("a default is needed (or required: true, in a table)")
            return self
        try:
            canonical = self.canonical(self.default)
        except _Refused as exc:
            raise ValueError(f"the default {show_value(self.default)} {exc.reason}") from None
        if canonical != self.default:
            raise ValueError(f"write the default in its canonical form {canonical!r}")
        return self

    @property
    def writable(self) -> bool:
        return self.access == "read-write"

    @property
    def secret(self) -> bool:
        return self.type == "secret"

    @property
    def bounds(self) -> tuple[int, int]:
        """The accepted range of an integer type (the type's own range when not narrowed)."""
        low, high = _INT_RANGE.get(self.type, (0, 0))
        return (low if self.min is None else self.min, high if self.max is None else self.max)

    def canonical(self, text: str) -> str:
        """The canonical text of a value, or _Refused saying why it is not one."""
        if _CONTROL.search(text):
            raise _Refused("contains a control character (newline, tab...)")
        if self.type not in ("string", "secret"):
            text = text.strip()
        if text == "":
            if self.allow_empty:
                return ""
            raise _Refused("is empty; this parameter needs a value")
        return _CONVERTERS[self.type](self, text)


class MethodSpec(_Spec):
    """A method an object offers (what it does is the box's business), with typed arguments."""

    name: str = ""
    path: str = ""
    description: str = ""
    arguments: dict[str, ParameterSpec] = {}


class Rule(_Spec):
    """When some parameters of an object have these values, others must be set (non-empty)."""

    description: str
    when: dict[str, str] = Field(min_length=1)
    require: tuple[str, ...] = Field(min_length=1)

    @field_validator("when", mode="before")
    @classmethod
    def _values_as_text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {
                key: ("1" if item else "0") if isinstance(item, bool) else item
                for key, item in value.items()
            }
        return value


class ObjectSpec(_Spec):
    """An object of the tree; a table entry when its path ends with `{i}.`."""

    path: str = ""
    description: str = ""
    parameters: dict[str, ParameterSpec] = {}
    methods: dict[str, MethodSpec] = {}
    max_instances: int | None = Field(default=None, ge=1)
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _table_rules(self) -> ObjectSpec:
        if self.multi_instance:
            if self.max_instances is None:
                raise ValueError("a table ({i}) needs max_instances")
            alias = self.parameters.get("Alias")
            if alias is None or alias.type != "string" or not alias.writable:
                raise ValueError("a table ({i}) needs a read-write string parameter Alias")
            if alias.allow_empty or alias.required or alias.default is not None:
                raise ValueError("Alias has no default and is never empty: the box names it")
            return self
        if self.max_instances is not None:
            raise ValueError("max_instances is for tables, whose path ends with {i}.")
        for name, spec in self.parameters.items():
            if spec.required or spec.default is None:
                raise ValueError(f"parameters.{name}: only a table's parameters can be required")
        return self

    @property
    def multi_instance(self) -> bool:
        return self.path.endswith("{i}.")

    @property
    def table(self) -> str | None:
        """The table path of a multi-instance object (`Device.NAT.PortMapping.`), else None."""
        return self.path[: -len("{i}.")] if self.multi_instance else None


class DataModelFile(_Spec):
    """The data model file: its name and its objects keyed by path."""

    name: str
    objects: dict[str, ObjectSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _name_everything(cls, data: Any) -> Any:
        # Names and paths live in the keys of the file; copy them into each spec.
        if not isinstance(data, dict) or not isinstance(data.get("objects"), dict):
            return data
        objects: dict[Any, Any] = {}
        for path, obj in data["objects"].items():
            if isinstance(obj, dict):
                obj = dict(obj, path=path)
                if "parameters" in obj:
                    obj["parameters"] = _named(obj["parameters"], str(path))
                if "methods" in obj:
                    obj["methods"] = methods = _named(obj["methods"], str(path))
                    for name, method in methods.items() if isinstance(methods, dict) else ():
                        if isinstance(method, dict) and "arguments" in method:
                            method["arguments"] = _named(method["arguments"], f"{path}{name}(", ")")
            objects[path] = obj
        return dict(data, objects=objects)

    @model_validator(mode="after")
    def _paths_and_rules(self) -> DataModelFile:
        parameters: dict[str, ParameterSpec] = {}
        for path, obj in self.objects.items():
            if not _OBJECT_PATH.fullmatch(path) or ".{i}.{i}." in path or path == "Device.{i}.":
                raise ValueError(
                    f"objects.{path}: not an object path (Device.Name.Name., `{{i}}` for a table)"
                )
            for name in (*obj.parameters, *obj.methods):
                if not _NAME.fullmatch(name):
                    raise ValueError(f"objects.{path}: {name!r} is not a parameter name")
                if (path + name + ".") in self.objects:
                    raise ValueError(f"objects.{path}: {name} is both a parameter and an object")
            parameters.update({spec.path: spec for spec in obj.parameters.values()})
        tables = [obj.table for obj in self.objects.values() if obj.table is not None]
        for table in tables:
            for path in self.objects:
                rest = path[len(table) :] if path.startswith(table) else None
                if rest is not None and not rest.startswith("{i}."):
                    raise ValueError(f"objects.{path}: {table} is a table; its entries are {{i}}")
        for path, obj in self.objects.items():
            for index, rule in enumerate(obj.rules):
                where = f"objects.{path}.rules.{index}"
                for name in (*rule.when, *rule.require):
                    if "{i}" in name or (path + name) not in parameters:
                        raise ValueError(f"{where}: {path}{name} is not a parameter of the model")
                for name, value in rule.when.items():
                    spec = parameters[path + name]
                    try:
                        canonical = spec.canonical(value)
                    except _Refused as exc:
                        raise ValueError(f"{where}.when.{name}: {value!r} {exc.reason}") from None
                    if canonical != value:
                        raise ValueError(f"{where}.when.{name}: write {canonical!r}")
        return self


def _named(entries: Any, prefix: str, suffix: str = "") -> Any:
    if not isinstance(entries, dict):
        return entries
    return {
        name: dict(spec, name=name, path=f"{prefix}{name}{suffix}")
        if isinstance(spec, dict)
        else spec
        for name, spec in entries.items()
    }


# --- Value types -------------------------------------------------------------------------


def _string(spec: ParameterSpec, text: str) -> str:
    if spec.max_length is not None and len(text) > spec.max_length:
        raise _Refused(f"is longer than {spec.max_length} characters")
    if spec.pattern is not None and re.fullmatch(spec.pattern, text) is None:
        raise _Refused(f"is not {spec.pattern_hint or 'of the form ' + spec.pattern}")
    return text


def _boolean(spec: ParameterSpec, text: str) -> str:
    lowered = text.lower()
    if lowered in ("1", "true"):
        return "1"
    if lowered in ("0", "false"):
        return "0"
    raise _Refused("is not a boolean (1, 0, true or false)")


def _integer(spec: ParameterSpec, text: str) -> str:
    low, high = spec.bounds
    what = "a port" if spec.type == "port" else "a whole number"
    if _INTEGER.fullmatch(text) is None or not low <= int(text) <= high:
        raise _Refused(f"is not {what} ({low} to {high})")
    return str(int(text))


def _enum(spec: ParameterSpec, text: str) -> str:
    if text in spec.values:
        return text
    lowered = text.lower()
    for value in spec.values:
        if value.lower() == lowered:
            return value
    raise _Refused(f"is not one of {', '.join(spec.values)}")


def _ipv4(text: str) -> bool:
    return bool(netaddr.valid_ipv4(text))


def _ipv4_address(spec: ParameterSpec, text: str) -> str:
    if not _ipv4(text):
        raise _Refused("is not an IPv4 address (four numbers 0 to 255, as 192.168.1.1)")
    return text


def _ipv4_netmask(spec: ParameterSpec, text: str) -> str:
    if not (_ipv4(text) and netaddr.IPAddress(text).is_netmask()):
        raise _Refused("is not a subnet mask (as 255.255.255.0)")
    return text


def _ipv4_address_list(spec: ParameterSpec, text: str) -> str:
    addresses = [part.strip() for part in text.split(",")]
    if not all(_ipv4(address) for address in addresses):
        raise _Refused("is not a comma-separated list of IPv4 addresses")
    return ",".join(addresses)


def _mac_address(spec: ParameterSpec, text: str) -> str:
    if _CANONICAL_MAC.fullmatch(text):
        return text  # already as the box writes it: no need to parse it
    if _MAC.fullmatch(text) is None:
        raise _Refused("is not a MAC address (as 00:1a:2b:3c:4d:5e)")
    return str(netaddr.EUI(text, dialect=netaddr.mac_unix_expanded))


def _hostname(spec: ParameterSpec, text: str) -> str:
    name = text.removesuffix(".").lower()
    labels = name.split(".")
    valid = len(name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    if valid and all(label.isdigit() for label in labels):
        # All-numeric names are addresses, and must then be valid ones.
        valid = _ipv4(name)
    if not valid:
        raise _Refused(
            "is not a host name (labels of letters, digits and '-', up to 63 characters)"
        )
    return name


def _phone_number(spec: ParameterSpec, text: str) -> str:
    number = text.translate(_PHONE_SEPARATORS)
    if _PHONE.fullmatch(number) is None:
        raise _Refused(
            "is not a phone number (2 to 20 digits with an optional leading +; "
            "* and # are not allowed)"
        )
    return number


def _datetime(spec: ParameterSpec, text: str) -> str:
    try:
        return format_datetime(dt.datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        raise _Refused(
            "is not an ISO 8601 date and time with its time zone (as 2026-01-31T09:30:00Z)"
        ) from None


def format_datetime(moment: dt.datetime) -> str:
    """The canonical text of an aware datetime: UTC, ending in Z (ValueError when naive)."""
    if moment.tzinfo is None:
        raise ValueError("a datetime without a time zone")
    if moment.utcoffset():
        moment = moment.astimezone(dt.UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"


_CONVERTERS = {
    "string": _string,
    "secret": _string,
    "boolean": _boolean,
    "int": _integer,
    "unsigned": _integer,
    "port": _integer,
    "enum": _enum,
    "ipv4-address": _ipv4_address,
    "ipv4-netmask": _ipv4_netmask,
    "ipv4-address-list": _ipv4_address_list,
    "mac-address": _mac_address,
    "hostname": _hostname,
    "phone-number": _phone_number,
    "datetime": _datetime,
}


# --- The model ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Location:
    """Where a concrete path sits in the model.

    `template` is the path with `{i}` for instance numbers (a table path is its own template,
    `Device.NAT.PortMapping.`); `instances` the concrete instance paths it lies in, outermost
    first; `order` sorts parameters in tree order (objects as in the file, instances by number).
    """

    path: str
    template: str
    kind: PathKind
    spec: ParameterSpec | ObjectSpec
    instances: tuple[str, ...]
    order: tuple[int, ...]

    @property
    def is_instance(self) -> bool:
        """True for the path of an instance itself (`Device.NAT.PortMapping.3.`)."""
        return bool(self.instances) and self.instances[-1] == self.path


class _Node:
    __slots__ = ("children", "index", "instance", "obj", "param")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.instance: _Node | None = None
        self.obj: ObjectSpec | None = None
        self.param: ParameterSpec | None = None
        self.index = 0


class DataModel:
    """The objects and parameters of the box, looked up by concrete path and type-checked.

    Values are text everywhere: `convert` checks a value and returns its canonical text, so
    that every interface prints the same thing. One instance is shared by every box.
    """

    _LOCATED_LIMIT: ClassVar[int] = 200_000
    _shipped: ClassVar[DataModel | None] = None

    def __init__(self, spec: DataModelFile, source: Path) -> None:
        self.name = spec.name
        self.source = source
        self._objects: dict[str, ObjectSpec] = dict(spec.objects)
        self._root = _Node()
        self._located: dict[str, Location] = {}
        self._subtrees: dict[str, tuple[ParameterSpec, ...] | None] = {}
        for index, obj in enumerate(spec.objects.values()):
            self._add_object(obj, index)
        self._defaults = MappingProxyType(
            {
                param.path: param.default
                for obj in self._objects.values()
                if "{i}" not in obj.path
                for param in obj.parameters.values()
                if param.default is not None
            }
        )
        self._secret_names = frozenset(
            param.name
            for obj in self._objects.values()
            for param in obj.parameters.values()
            if param.secret
        )
        self._tables = frozenset(
            table for obj in self._objects.values() if (table := obj.table) is not None
        )
        self._rules: dict[str, list[tuple[ObjectSpec, Rule]]] = {}
        for obj in self._objects.values():
            for rule in obj.rules:
                trigger = next(iter(rule.when)).rpartition(".")[2]
                self._rules.setdefault(trigger, []).append((obj, rule))

    @classmethod
    def load(cls, path: Path | None = None) -> DataModel:
        """The data model of a file (default: the shipped one, loaded once and shared).

        Raises DataFileError naming the file, the field and the reason of the first mistake.
        """
        if path is None:
            if cls._shipped is None:
                cls._shipped = cls._read(DATAMODEL_FILE)
            return cls._shipped
        return cls._read(path)

    @classmethod
    def _read(cls, path: Path) -> DataModel:
        return cls(validate(DataModelFile, read_yaml(path), path), path)

    def _add_object(self, obj: ObjectSpec, index: int) -> None:
        node = self._root
        segments = obj.path[:-1].split(".")
        for depth, segment in enumerate(segments):
            if segment == "{i}":
                node.instance = node.instance or _Node()
                node = node.instance
            else:
                node = node.children.setdefault(segment, _Node())
            inner = depth + 1 < len(segments)
            if inner and node.obj is None and segments[depth + 1] != "{i}":
                # An ancestor the file does not declare: an empty container.
                node.obj = ObjectSpec(path=".".join(segments[: depth + 1]) + ".")
                self._objects.setdefault(node.obj.path, node.obj)
        node.obj = obj
        node.index = index
        for position, (name, param) in enumerate(obj.parameters.items()):
            leaf = node.children.setdefault(name, _Node())
            leaf.param = param
            leaf.index = position

    # --- Paths -----------------------------------------------------------------------------

    def objects(self) -> list[ObjectSpec]:
        """Every object of the model, declared ones in file order, then implied containers."""
        return list(self._objects.values())

    @property
    def tables(self) -> frozenset[str]:
        """The table paths of the multi-instance objects (`Device.NAT.PortMapping.`)."""
        return self._tables

    def lookup(self, path: str) -> ParameterSpec | ObjectSpec:
        """The spec of a concrete path (`Device.NAT.PortMapping.3.ExternalPort`); a table
        path gives the spec of its entries. Raises UnknownPath."""
        return self.locate(path).spec

    def template(self, path: str) -> str:
        """The path with `{i}` for its instance numbers."""
        return self.locate(path).template

    def locate(self, path: str) -> Location:
        """Where a concrete path sits in the model; UnknownPath when it is not one of its paths."""
        found = self._located.get(path)
        if found is None:
            found = self._walk(path)
            if len(self._located) < self._LOCATED_LIMIT:
                self._located[path] = found
        return found

    def _walk(self, path: str) -> Location:
        is_object = path.endswith(".")
        segments = (path[:-1] if is_object else path).split(".")
        node = self._root
        template: list[str] = []
        numbers: list[int] = []
        instances: list[str] = []
        for depth, segment in enumerate(segments):
            child = node.children.get(segment)
            if child is not None and child.param is not None and depth + 1 < len(segments):
                child = None
            if child is None and node.instance is not None:
                here = ".".join(segments[:depth]) + "."
                if not (segment.isascii() and segment.isdigit() and segment[0] != "0"):
                    raise UnknownPath(
                        path, f"{segment!r} is not an instance number of the table {here}"
                    )
                child = node.instance
                numbers.append(int(segment))
                instances.append(f"{here}{segment}.")
                segment = "{i}"
            if child is None:
                raise UnknownPath(path, self._unknown(node, segments, depth))
            template.append(segment)
            node = child
        joined = ".".join(template)
        if node.param is not None:
            if is_object:
                raise UnknownPath(path, "is a parameter: write it without the final '.'")
            owner = self.locate(path[: -len(node.param.name)])
            order = (*owner.order, node.index)
            return Location(path, joined, "parameter", node.param, tuple(instances), order)
        if not is_object:
            raise UnknownPath(path, "is an object: write it with a final '.'")
        if node.obj is not None:
            order = (node.index, *numbers)
            return Location(path, joined + ".", "object", node.obj, tuple(instances), order)
        assert node.instance is not None
        assert node.instance.obj is not None
        order = (node.instance.index, *numbers)
        spec = node.instance.obj
        return Location(path, joined + ".", "table", spec, tuple(instances), order)

    @staticmethod
    def _unknown(node: _Node, segments: list[str], depth: int) -> str:
        segment = segments[depth]
        if depth == 0:
            return "paths start with 'Device.'"
        here = ".".join(segments[:depth]) + "."
        names = sorted(node.children)
        close = difflib.get_close_matches(segment, names, n=3)
        if close:
            return f"no {segment!r} in {here} (did you mean {' or '.join(close)}?)"
        if not names:
            return f"{here} has nothing below it"
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        return f"no {segment!r} in {here}; it has: {shown}"

    def parameters(self, path: str) -> list[ParameterSpec]:
        """The parameters of an object (concrete or template path), in file order."""
        if "{i}" in path:
            obj = self._objects.get(path)
            if obj is None:
                raise UnknownPath(path, "is not an object of the model")
            return list(obj.parameters.values())
        spec = self.lookup(path)
        if isinstance(spec, ParameterSpec):
            raise UnknownPath(path, "is a parameter, not an object")
        return list(spec.parameters.values())

    @property
    def defaults(self) -> Mapping[str, str]:
        """The default value of every parameter outside tables, in tree order."""
        return self._defaults

    def instance_defaults(self, table_entry: str) -> dict[str, str]:
        """The defaults of a new instance of a table entry (`Device.NAT.PortMapping.{i}.`),
        by path relative to the instance; required parameters and Alias are left out."""
        return {
            obj.path[len(table_entry) :] + name: param.default
            for obj in self._objects.values()
            if obj.path.startswith(table_entry) and "{i}" not in obj.path[len(table_entry) :]
            for name, param in obj.parameters.items()
            if param.default is not None
        }

    def subtree(self, template: str) -> tuple[ParameterSpec, ...] | None:
        """The parameters at and below an object template, in tree order; None when a table
        lies below (how many parameters there are then depends on the instances)."""
        if template not in self._subtrees:
            below = [obj for obj in self._objects.values() if obj.path.startswith(template)]
            if any("{i}" in obj.path[len(template) :] for obj in below):
                self._subtrees[template] = None
            else:
                specs = (param for obj in below for param in obj.parameters.values())
                self._subtrees[template] = tuple(specs)
        return self._subtrees[template]

    def is_secret(self, path: str) -> bool:
        """True for a write-only parameter, whose reads show the mask."""
        if path.rpartition(".")[2] not in self._secret_names:
            return False
        spec = self.lookup(path)
        return isinstance(spec, ParameterSpec) and spec.secret

    # --- Values ----------------------------------------------------------------------------

    def parameter(self, path: str) -> ParameterSpec:
        """The spec of a parameter path; UnknownPath for objects and unknown paths."""
        spec = self.lookup(path)
        if not isinstance(spec, ParameterSpec):
            raise UnknownPath(path, "is an object, not a parameter")
        return spec

    def convert(self, path: str, text: str) -> str:
        """The canonical text of a value of this parameter, or ValueRejected saying why not."""
        spec = self.parameter(path)
        try:
            return spec.canonical(text)
        except _Refused as exc:
            raise ValueRejected(path, text, exc.reason, secret=spec.secret) from None

    def check_write(self, path: str, text: str) -> str:
        """As `convert`, also refusing read-only parameters (state the box sets itself)."""
        spec = self.parameter(path)
        if not spec.writable:
            raise ValueRejected(
                path, text, "is refused: the parameter is read-only (state the box sets itself)"
            )
        return self.convert(path, text)

    def check_writes(self, values: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """A desired state (path -> value) checked as writes; the canonical values, in order."""
        pairs = values.items() if isinstance(values, Mapping) else values
        return {path: self.check_write(path, text) for path, text in pairs}

    def check_rules(self, values: Mapping[str, str]) -> None:
        """Check the rules between parameters on a whole tree of values; RuleViolation."""
        for path, value in values.items():
            candidates = self._rules.get(path.rpartition(".")[2])
            if not candidates:
                continue
            template = self.locate(path).template
            for obj, rule in candidates:
                first = next(iter(rule.when))
                if obj.path + first != template or rule.when[first] != value:
                    continue
                prefix = path[: len(path) - len(first)]
                if any(values.get(prefix + key) != want for key, want in rule.when.items()):
                    continue
                missing = [key for key in rule.require if not values.get(prefix + key)]
                if missing:
                    cause = ", ".join(f"{key}={want}" for key, want in rule.when.items())
                    raise RuleViolation(
                        prefix,
                        f"{prefix}: {rule.description} ({cause}, but {', '.join(missing)} "
                        f"{'is' if len(missing) == 1 else 'are'} not set)",
                    )

    # --- Methods ---------------------------------------------------------------------------

    def method(self, path: str) -> MethodSpec:
        """The method of a path like `Device.Reboot` or `Device.Reboot()`; UnknownPath."""
        plain = path.removesuffix("()")
        owner, _, name = plain.rpartition(".")
        spec = self.lookup(owner + ".")
        if isinstance(spec, ParameterSpec):
            raise UnknownPath(plain + "()", f"{owner} is a parameter, not an object")
        if name not in spec.methods:
            known = ", ".join(f"{m}()" for m in spec.methods)
            has = f"{owner}. has {known}" if known else f"{owner}. has no methods"
            raise UnknownPath(plain + "()", f"no such method; {has}")
        return spec.methods[name]

    def check_call(self, path: str, arguments: Mapping[str, str]) -> dict[str, str]:
        """The canonical arguments of a method call (defaults filled), or why it is refused."""
        method = self.method(path)
        call = path.removesuffix("()")
        unknown = [name for name in arguments if name not in method.arguments]
        if unknown:
            known = ", ".join(method.arguments) or "none"
            raise CallRejected(
                call, f"{call}(): unknown argument {unknown[0]!r}; the arguments are: {known}"
            )
        checked: dict[str, str] = {}
        for name, spec in method.arguments.items():
            if name in arguments:
                try:
                    checked[name] = spec.canonical(arguments[name])
                except _Refused as exc:
                    raise ValueRejected(
                        f"{call}({name})", arguments[name], exc.reason, secret=spec.secret
                    ) from None
            elif spec.default is not None:
                checked[name] = spec.default
            else:
                raise CallRejected(call, f"{call}(): the argument {name} is required")
        return checked
