"""Rating hooks: whatever wants each call record with its price (bills, reports, checks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import entry_points

from profiles.rating import PricedCall, Rater
from profiles.records import CallRecord

#: The entry-point group through which installed packages add rating hooks.
ENTRY_POINT_GROUP = "livebox_lab.rating_hooks"

RatingHook = Callable[[CallRecord, PricedCall], None]


class HookError(RuntimeError):
    """A hook failed; the message names the hook and the record it was given."""


class HookLoadError(RuntimeError):
    """An entry point of the hooks group could not be loaded or is not callable."""


def load_entry_point_hooks(group: str = ENTRY_POINT_GROUP) -> list[RatingHook]:
    """The hooks installed packages declare, e.g. in their pyproject.toml:

        [project.entry-points."livebox_lab.rating_hooks"]
        audit = "mypackage.audit:record_call"

    Each entry point is a callable taking (record, priced). Sorted by entry-point name.
    """
    hooks: list[RatingHook] = []
    for point in sorted(entry_points(group=group), key=lambda ep: ep.name):
        try:
            hook = point.load()
        except Exception as exc:
            raise HookLoadError(f"rating hook {point.name!r} ({point.value}): {exc}") from exc
        if not callable(hook):
            raise HookLoadError(f"rating hook {point.name!r} ({point.value}) is not callable")
        hooks.append(hook)
    return hooks


class RatingHooks:
    """Prices each record with the rater, then hands record and price to every hook.

    The rater is the first hook of the chain: it is what turns a record into a price; the
    others (registered in code with `register`, or installed through the entry-point group
    `livebox_lab.rating_hooks`) see what it decided.

    >>> hooks = RatingHooks(rater)                       # doctest: +SKIP
    >>> @hooks.register
    ... def audit(record, priced): print(priced.rule)   # doctest: +SKIP
    >>> hooks(record)                                   # doctest: +SKIP
    """

    def __init__(
        self, rater: Rater, hooks: Iterable[RatingHook] = (), *, entry_points: bool = False
    ) -> None:
        self.rater = rater
        self.hooks: list[RatingHook] = list(hooks)
        if entry_points:
            self.hooks.extend(load_entry_point_hooks())

    def register(self, hook: RatingHook) -> RatingHook:
        """Add a hook; returns it, so that it can be used as a decorator."""
        self.hooks.append(hook)
        return hook

    def __call__(self, record: CallRecord) -> PricedCall:
        priced = self.rater.rate(record)
        for hook in self.hooks:
            try:
                hook(record, priced)
            except Exception as exc:
                name = getattr(hook, "__qualname__", repr(hook))
                raise HookError(
                    f"rating hook {name} failed on the call of {record.start.isoformat()} "
                    f"to {record.callee}: {exc}"
                ) from exc
        return priced
