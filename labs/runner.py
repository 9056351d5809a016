"""Play a lab scenario on emulated boxes in simulated time: provision, call, break, bill, check."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from emulator.fleet import Fleet, LineSpec, ServedBox
from emulator.sip.compose import reason_for
from emulator.sip.pcap import PcapTap
from emulator.telephony.calls import Call, CallState
from emulator.telephony.core import OperatorCore
from emulator.telephony.phone import BUSY, NO_ANSWER, Behaviour, PhoneState, VirtualPhone
from emulator.voip import LINE
from labs.link import ShapedLink, link_unavailable
from labs.results import (
    CallResult,
    InvoiceLine,
    InvoiceResult,
    LabResult,
    Ladder,
    PricedLeg,
    StepResult,
)
from labs.scenario import (
    AdvanceStep,
    BoxSpec,
    CallStep,
    ContinuityStep,
    ExpectStep,
    FaultStep,
    ForwardingStep,
    ProvisionStep,
    RestoreStep,
    Scenario,
    StarCodeStep,
    TrafficStep,
)
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.model import Offer
from profiles.rating import PricedCall, Rater
from profiles.records import PARIS, CallRecord
from profiles.sla import Incident, SlaVerdict, assess
from provisioning.flow import BoxResult
from provisioning.runner import RunResult, run, site_jobs
from provisioning.site import SiteOrigin, SiteRules, parse_site

#: The admin password of the bench's boxes; a misbehaving box has another one.
ADMIN_PASSWORD = "livebox-lab-bench"
MISBEHAVING_PASSWORD = "not-what-the-site-says"
SIP_PASSWORD = "livebox-lab-sip"
#: The longest a call may ring or wait for the network before the runner gives up on it.
MAX_SETUP_S = 600
#: Seconds of TCP each way through a shaped link (enough for a rate within a few %).
LINK_MEASURE_S = 2.0
#: Loop turns without any SIP message before the bench counts as settled.
QUIET_TURNS = 3
MAX_TURNS = 5_000
FEATURES = f"{LINE}CallingFeatures."
DSL = "Device.DSL.Line.1."
WAN = "Device.IP.Interface.2."


class LabError(RuntimeError):
    """A step that cannot run (not an expectation that does not hold)."""


@dataclass
class _Box:
    served: ServedBox
    spec: BoxSpec
    offer: Offer
    last_provision: BoxResult | None = None
    incidents: list[Incident] = field(default_factory=list)
    open_faults: dict[str, dt.datetime] = field(default_factory=dict)


class LabRun:
    """One run of a scenario: the bench it builds, the steps it plays and what it found.

    >>> result = await LabRun(load_scenario(path)).run()      # doctest: +SKIP
    >>> result.ok
    True
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        tap: PcapTap | None = None,
        progress: Callable[[StepResult], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.tap = tap
        self.progress = progress
        self.clock = SimulatedClock(scenario.start)
        self.catalogue = Catalogue.load()
        self.plan = self.catalogue.numbering_plan()
        self.core: OperatorCore | None = None
        self.fleets: list[Fleet] = []
        self.boxes: dict[str, _Box] = {}
        self.raters: dict[str, Rater] = {}
        self.priced: dict[int, list[PricedCall]] = {}
        self.calls: dict[str, Call] = {}
        self.fleet_runs: dict[str, RunResult] = {}
        self._account_offer: dict[str, Offer] = {}
        #: What this machine could not do (e.g. a shaped link without root), said in the result.
        self.skipped: list[str] = []
        self._anonymous = 0

    # -- the whole run -----------------------------------------------------------------------

    async def run(self) -> LabResult:
        began = time.perf_counter()
        result = LabResult(
            scenario=self.scenario.name,
            description=self.scenario.description or "",
            source=str(self.scenario.path),
            started=self.scenario.start,
        )
        lines = self.scenario.step_lines()
        try:
            await self._build()
            for index, step in enumerate(self.scenario.steps):
                line = lines[index] if index < len(lines) else None
                outcome = await self._play(index + 1, step, line)
                result.steps.append(outcome)
                if self.progress is not None:
                    self.progress(outcome)
            result.calls = [self._call_result(name, call) for name, call in self.calls.items()]
            result.invoices = self._invoices()
            result.skipped = list(self.skipped)
        finally:
            await self._close()
            result.wall_s = time.perf_counter() - began
        return result

    async def _build(self) -> None:
        self.core = await OperatorCore.start(clock=self.clock, tap=self.tap, plan=self.plan)
        self.core.record_sinks.append(self._rate)
        for phone in self.scenario.bench.phones:
            behaviour = Behaviour(answer_after_s=phone.answer_after_s, busy=phone.busy)
            self.core.add_phone(phone.number, behaviour, name=phone.name or "")
        index = 0
        for spec in self.scenario.bench.boxes:
            offer = self.catalogue.offer(spec.offer)
            fleet = Fleet(
                offer,
                names=spec.names(),
                line=LineSpec(spec.technology, spec.attenuation_db),
                clock=self.clock,
                admin_password=MISBEHAVING_PASSWORD if spec.misbehaves else ADMIN_PASSWORD,
                own_addresses=True,
                sip_password=SIP_PASSWORD,
                first_index=index,
                core=self.core,
            )
            self.fleets.append(fleet)
            await fleet.start()
            for served in fleet.served:
                self.boxes[served.name] = _Box(served, spec, offer)
                self._account_offer[served.name] = offer
            index += len(fleet.served)

    async def _close(self) -> None:
        for fleet in self.fleets:
            await fleet.close()
        if self.core is not None:
            await self.core.close()

    async def _play(self, index: int, step: Any, line: int | None) -> StepResult:
        kind, summary = _describe(step)
        at = self.clock.now()
        try:
            ok, detail = await self._dispatch(step)
        except LabError as exc:
            ok, detail = False, str(exc)
        return StepResult(index, kind, summary, ok, detail, at=at, line=line)

    async def _dispatch(self, step: Any) -> tuple[bool | None, str]:
        if isinstance(step, ProvisionStep):
            return await self._provision(step)
        if isinstance(step, CallStep):
            return await self._call(step)
        if isinstance(step, ForwardingStep):
            return self._forwarding(step)
        if isinstance(step, StarCodeStep):
            return await self._star_code(step)
        if isinstance(step, TrafficStep):
            return await self._traffic(step)
        if isinstance(step, ContinuityStep):
            return self._continuity(step)
        if isinstance(step, FaultStep):
            return await self._fault(step)
        if isinstance(step, RestoreStep):
            return await self._restore(step)
        if isinstance(step, AdvanceStep):
            return await self._advance(step)
        if isinstance(step, ExpectStep) and step.link is not None:
            return await self._expect_link(step)
        if isinstance(step, ExpectStep):
            return self._expect(step)
        raise LabError(f"a step of an unknown kind: {type(step).__name__}")

    # -- time and I/O ---------------------------------------------------------------------

    async def settle(self) -> None:
        """Let the bench's SIP and management traffic run until nothing moves any more."""
        quiet = 0
        last = -1
        for _ in range(MAX_TURNS):
            await asyncio.sleep(0)
            moved = self._messages()
            if moved == last:
                quiet += 1
                if quiet >= QUIET_TURNS:
                    return
            else:
                quiet, last = 0, moved
        raise LabError("the bench did not settle: messages kept flowing")

    def _messages(self) -> int:
        total = 0
        if self.core is not None:
            stats = self.core.endpoint.stats
            total += stats.received + stats.sent
        for box in self.boxes.values():
            voip = box.served.voip
            if voip is not None and voip.stack.is_open:
                stats = voip.stack.endpoint.stats
                total += stats.received + stats.sent
        return total

    async def advance_to(self, target: float) -> None:
        """Move simulated time to `target`, timer by timer, letting the traffic each one
        starts settle before the next (a registration refresh is a round trip or two)."""
        while True:
            deadline = self.clock.next_deadline()
            if deadline is None or deadline > target:
                await self.clock.advance_to(target)
                await self.settle()
                return
            await self.clock.advance_to(max(deadline, self.clock.monotonic()))
            await self.settle()

    async def advance(self, seconds: float) -> None:
        await self.advance_to(self.clock.monotonic() + seconds)

    # -- steps ------------------------------------------------------------------------------

    def _targets(self, name: str) -> list[_Box]:
        if name in self.boxes:
            return [self.boxes[name]]
        matching = [box for box_name, box in self.boxes.items() if box_name.startswith(name)]
        if not matching:
            raise LabError(f"no box named {name!r} on the bench")
        return matching

    async def _provision(self, step: ProvisionStep) -> tuple[bool | None, str]:
        boxes = self._targets(step.box)
        rules = SiteRules.load(self.catalogue)
        sites = {}
        with tempfile.TemporaryDirectory(prefix="livebox-lab-") as folder:
            for box in boxes:
                if box.spec.site is None:
                    raise LabError(f"box {box.served.name} has no site file to provision")
                data = self._site_data(box, Path(folder))
                sites[box.served.name] = parse_site(
                    data, SiteOrigin(box.served.name, box.spec.site), rules
                )
            jobs = site_jobs(sites, check=step.check)
            outcome = await run(
                jobs,
                concurrency=step.concurrency or 50,
                canary=step.canary if step.canary is not None else 1,
                max_failures=step.max_failures if step.max_failures is not None else len(jobs),
            )
        await self.settle()
        self.fleet_runs[step.box] = outcome
        for box in boxes:
            box.last_provision = outcome.results.get(box.served.name)
        results = [outcome.results[box.served.name] for box in boxes]
        changed = sum(1 for r in results if r.changed)
        failed = [r for r in results if r.failed or r.skipped]
        summary = (
            f"{len(results)} box(es): {changed} changed, {len(failed)} failed or skipped, "
            f"{len(results) - changed - len(failed)} unchanged"
        )
        if len(results) == 1:
            only = results[0]
            summary = only.verdict
            if step.check and not only.failed:
                summary = (
                    f"check only: {len(only.diff)} changes to apply, nothing applied"
                    if only.diff
                    else "check only: the box already matches the site"
                )
        if step.expect is None:
            return None, summary
        verdicts = {_provision_verdict(r, check=step.check) for r in results}
        ok = verdicts == {step.expect}
        return ok, summary if ok else f"expected {step.expect}, got {', '.join(sorted(verdicts))}"

    def _site_data(self, box: _Box, folder: Path) -> dict[str, Any]:
        """The box's site file, aimed at the box as served and at the bench's core."""
        assert box.spec.site is not None
        data: dict[str, Any] = yaml.safe_load(box.spec.site.read_text(encoding="utf-8"))
        served = box.served
        host, port = served.endpoints()["ssh"].rsplit(":", 1)
        data["box"] = {
            "host": host,
            "port": int(port),
            "transport": "ssh",
            "user": "admin",
            "password": ADMIN_PASSWORD,
            "known_hosts": str(folder / "known_hosts"),
            "trust_on_first_use": True,
        }
        line = data.get("voip_line")
        if isinstance(line, dict) and served.core is not None and served.numbers is not None:
            line.pop("password_env", None)
            line.pop("password_file", None)
            line.update(
                password=SIP_PASSWORD,
                directory_number=served.numbers.voip,
                sip_user=served.numbers.sip_user,
                registrar=served.core.domain,
                proxy=served.core.domain,
                domain=served.core.domain,
                registrar_port=served.core.port,
                proxy_port=served.core.port,
            )
        classic = data.get("classic_line")
        if isinstance(classic, dict) and served.numbers is not None:
            classic["number"] = served.numbers.classic
        return data

    def _number(self, text: str) -> str:
        """A number of the scenario: `<box>.voip`, `<box>.classic`, or any number."""
        box_name, dot, which = text.rpartition(".")
        if dot and box_name in self.boxes and which in ("voip", "classic"):
            numbers = self.boxes[box_name].served.numbers
            assert numbers is not None
            return numbers.voip if which == "voip" else numbers.classic
        return self.plan.classify(text).number

    def _phone(self, text: str) -> VirtualPhone:
        box_name, dot, which = text.rpartition(".")
        core = self._core
        if dot and box_name in self.boxes and which == "voip":
            voip = self.boxes[box_name].served.voip
            assert voip is not None
            return voip.phone
        number = self._number(text)
        try:
            return core.phone(number)
        except KeyError:
            raise LabError(f"no phone on {text}: declare it among the bench's phones") from None

    @property
    def _core(self) -> OperatorCore:
        assert self.core is not None
        return self.core

    async def _call(self, step: CallStep) -> tuple[bool | None, str]:
        caller = self._phone(step.caller)
        dialled = self._number(step.to)
        callee = self._callee_phone(step.to)
        kept = callee.behaviour if callee is not None else None
        if callee is not None:
            callee.behaviour = (
                BUSY
                if step.answer == "busy"
                else Behaviour(answer_after_s=step.ring_s)
                if step.answer is True
                else NO_ANSWER
            )
        try:
            count = len(self._core.started)
            caller.dial(step.to if "." not in step.to else dialled)
            await self.settle()
            call = self._new_call(count, caller.number)
            name = step.id or f"call-{len(self.calls) + 1}"
            self.calls[name] = call
            await self._drive(call, caller, step)
        finally:
            if callee is not None and kept is not None:
                callee.behaviour = kept
        where = (
            f"answered by {call.answered_by}"
            if call.answered_by
            else f"not answered ({call.status} {reason_for(call.status or 500)})"
        )
        hops = (
            " via " + ", ".join(f"{h.reason} to {h.target}" for h in call.hops) if call.hops else ""
        )
        return None, f"{call.caller} -> {call.dialled}: {where}{hops}, {call.duration_s} s"

    def _callee_phone(self, text: str) -> VirtualPhone | None:
        try:
            return self._phone(text)
        except LabError:
            return None

    def _new_call(self, count: int, caller: str) -> Call:
        started = list(self._core.started)[count:]
        for call in started:
            if call.caller == caller:
                return call
        raise LabError(f"the call from {caller} never reached the operator core")

    async def _drive(self, call: Call, caller: VirtualPhone, step: CallStep) -> None:
        """Let the call ring (and be forwarded) until answered or given up, then talk."""
        waited = 0
        while call.state in (CallState.SETUP, CallState.RINGING) and waited < MAX_SETUP_S:
            if waited >= step.hold_s and call.state is CallState.RINGING:
                caller.hang_up()  # the caller gives up
                await self.settle()
                break
            await self.advance(1)
            waited += 1
        if call.state is CallState.CONNECTED:
            await self.advance(step.duration_s)
            if call.state is CallState.CONNECTED:
                caller.hang_up()
                await self.settle()
        if call.state is not CallState.ENDED:
            await self.advance(1)
        if caller.state is not PhoneState.IDLE:
            caller.released()

    def _forwarding(self, step: ForwardingStep) -> tuple[bool | None, str]:
        values: list[tuple[str, str]] = []
        if step.clear:
            for rule in ("Unconditional", "OnBusy", "OnNoAnswer"):
                values += [(f"CallForward{rule}Enable", "0"), (f"CallForward{rule}Number", "")]
        for rule, field_name, target in (
            ("Unconditional", "unconditional", step.unconditional),
            ("OnBusy", "busy", step.busy),
            ("OnNoAnswer", "no_answer", step.no_answer),
        ):
            if target:
                number = self._number(target)
                values += [(f"CallForward{rule}Enable", "1"), (f"CallForward{rule}Number", number)]
            elif field_name in step.model_fields_set:  # written as null: that rule goes off
                values += [(f"CallForward{rule}Enable", "0"), (f"CallForward{rule}Number", "")]
        if step.ring_timeout_s is not None:
            values.append(("CallForwardOnNoAnswerRingTimeout", str(step.ring_timeout_s)))
        for box in self._targets(step.box):
            session = box.served.box.config.session("admin")
            try:
                session.set(FEATURES, values)
                session.commit()
            except ValueError as exc:
                raise LabError(f"{box.served.name}: {exc}") from None
        shown = ", ".join(f"{k}={v}" for k, v in values if v and not k.endswith("Enable"))
        return None, shown or "forwarding cleared"

    async def _star_code(self, step: StarCodeStep) -> tuple[bool | None, str]:
        box = self._targets(step.box)[0]
        numbers = box.served.numbers
        assert numbers is not None
        phone = self._core.phone(numbers.classic)
        call = phone.dial(step.dial)
        await self.settle()
        announcement = getattr(call, "announcement", "")
        return None, f"{step.dial}: {announcement}"

    async def _traffic(self, step: TrafficStep) -> tuple[bool | None, str]:
        """Calls from the box's classic line, spread over working hours of the coming days."""
        box = self._targets(step.box)[0]
        numbers = box.served.numbers
        assert numbers is not None
        phone = self._core.phone(numbers.classic)
        rng = random.Random(step.seed)
        people = _correspondents(step, rng)
        dialled = people + [rng.choice(people) for _ in range(step.calls - len(people))]
        rng.shuffle(dialled)
        start = self.clock.now().astimezone(PARIS)
        moments = sorted(
            _working_moment(start, rng.randrange(step.days), rng) for _ in range(step.calls)
        )
        seconds = 0
        for number, moment in zip(dialled, moments, strict=True):
            if moment > self.clock.now():
                await self.advance((moment - self.clock.now()).total_seconds())
            self._answering_phone(number)
            length = round(rng.uniform(step.duration_s.min, step.duration_s.max))
            call = phone.dial(number)
            await self.advance(TRAFFIC_ANSWER_S)
            await self.advance(length)
            phone.hang_up()
            await self.settle()
            seconds += getattr(call, "duration_s", 0)
        kinds = {"mobile": 0, "abroad": 0, "fixed": 0}
        for number in people:
            kinds[_kind_of(number)] += 1
        shown = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        return None, (
            f"{step.calls} calls to {len(people)} correspondents ({shown}), "
            f"{seconds // 60} min in all"
        )

    def _answering_phone(self, number: str) -> None:
        try:
            self._core.phone(number)
        except KeyError:
            self._core.add_phone(number, Behaviour(answer_after_s=TRAFFIC_ANSWER_S))

    def _continuity(self, step: ContinuityStep) -> tuple[bool | None, str]:
        for box in self._targets(step.box):
            line = self._classic(box)
            try:
                line.set_continuity(self._number(step.number) if step.number else None)
            except ValueError as exc:
                raise LabError(str(exc)) from None
        return None, f"continuity number {step.number or 'removed'}"

    def _classic(self, box: _Box) -> Any:
        numbers = box.served.numbers
        assert numbers is not None
        line = self._core.exchange.line(numbers.classic)
        assert line is not None
        return line

    async def _fault(self, step: FaultStep) -> tuple[bool | None, str]:
        now = self.clock.now()
        for box in self._targets(step.box):
            box.open_faults[step.kind] = now
            served = box.served
            if step.kind == "classic-line-down":
                self._classic(box).fail(now)
            elif step.kind == "dsl-loss-of-sync":
                served.box.dsl.lose_sync()
            elif step.kind == "registrar-unreachable":
                self._core.stack.unreachable.add(served.voip.host if served.voip else "")
                if served.voip is not None:
                    served.voip.reregister()
            elif step.kind == "management-cut":
                served.ssh.cut_after(0)
            else:
                raise LabError(f"unknown fault {step.kind!r}")
        await self.settle()
        return None, f"{step.kind} on {step.box} at {_paris(now)}"

    async def _restore(self, step: RestoreStep) -> tuple[bool | None, str]:
        now = self.clock.now()
        for box in self._targets(step.box):
            since = box.open_faults.pop(step.kind, None)
            if since is None:
                raise LabError(f"{box.served.name} has no open {step.kind} fault to restore")
            served = box.served
            if step.kind == "classic-line-down":
                self._classic(box).restore(now)
                box.incidents.append(Incident("restoration", since, now))
            elif step.kind == "dsl-loss-of-sync":
                served.box.dsl.resync()
                box.incidents.append(Incident("restoration", since, now))
            elif step.kind == "registrar-unreachable":
                self._core.stack.unreachable.discard(served.voip.host if served.voip else "")
                if served.voip is not None:
                    served.voip.reregister()
            elif step.kind == "management-cut":
                served.ssh.cut_after(-1)
        await self.settle()
        return None, f"{step.kind} restored on {step.box} at {_paris(now)}"

    async def _advance(self, step: AdvanceStep) -> tuple[bool | None, str]:
        now = self.clock.now()
        if step.to == "end-of-month":
            local = now.astimezone(PARIS)
            year, month = (
                (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            )
            target = dt.datetime(year, month, 1, tzinfo=PARIS) - dt.timedelta(seconds=1)
        elif isinstance(step.to, dt.datetime):
            target = step.to
        else:
            seconds = (step.seconds or 0) + 3600 * (step.hours or 0) + 86400 * (step.days or 0)
            target = now + dt.timedelta(seconds=seconds)
        if target < now:
            raise LabError(f"cannot go back in time to {_paris(target)}")
        await self.advance((target - now).total_seconds())
        return None, f"now {_paris(self.clock.now())}"

    # -- expectations -------------------------------------------------------------------------

    def _expect(self, step: ExpectStep) -> tuple[bool | None, str]:
        checks: list[tuple[str, object, object]] = []
        if step.call is not None:
            checks = self._expect_call(step)
        elif step.box is not None:
            checks = self._expect_box(step)
        elif step.invoice is not None:
            checks = self._expect_invoice(step)
        elif step.sla is not None:
            checks = self._expect_sla(step)
        elif step.fleet is not None:
            checks = self._expect_fleet(step)
        wrong = [f"{name}: expected {want}, got {got}" for name, want, got in checks if want != got]
        shown = ", ".join(f"{name} {got}" for name, _, got in checks)
        return (not wrong), ("; ".join(wrong) if wrong else shown)

    async def _expect_link(self, step: ExpectStep) -> tuple[bool | None, str]:
        """Put the box's WAN behind a real shaped link at its line's rates and measure it."""
        box = self._targets(step.link or "")[0]
        why = link_unavailable()
        if why is not None:
            self.skipped.append(f"shaped link of {box.served.name}: {why}")
            return None, f"skipped: {why}"
        async with ShapedLink.for_line(box.served.box.dsl) as link:
            measure = await link.measure(seconds=LINK_MEASURE_S)
        shown = (
            f"down {measure.measured_down_kbps} kb/s for {measure.modelled_down_kbps} modelled, "
            f"up {measure.measured_up_kbps} for {measure.modelled_up_kbps}: "
            f"within {measure.within * 100:.1f}%"
        )
        assert step.within_pct is not None
        return measure.within * 100 <= step.within_pct, shown

    def _expect_call(self, step: ExpectStep) -> list[tuple[str, object, object]]:
        call = self.calls.get(step.call or "")
        if call is None:
            raise LabError(f"no call {step.call!r} was placed")
        checks: list[tuple[str, object, object]] = []
        if step.reached is not None:
            checks.append(("reached", self._number(step.reached), call.answered_by))
        if step.status is not None:
            checks.append(("status", step.status, call.status))
        if step.disposition is not None:
            checks.append(("disposition", str(step.disposition), str(call.disposition)))
        if step.forwarded is not None:
            last = str(call.hops[-1].reason) if call.hops else None
            checks.append(("forwarded", str(step.forwarded), last))
        if step.hops is not None:
            checks.append(("hops", step.hops, len(call.hops)))
        if step.duration_s is not None:
            checks.append(("duration_s", step.duration_s, call.duration_s))
        if step.price_eur is not None:
            total = sum((p.cost for p in self.priced.get(id(call), [])), Decimal(0))
            checks.append(("price_eur", Decimal(str(step.price_eur)), total.quantize(_CENT)))
        return checks

    def _expect_box(self, step: ExpectStep) -> list[tuple[str, object, object]]:
        box = self._targets(step.box or "")[0]
        served = box.served
        served.box.refresh()
        value = served.box.config.value
        checks: list[tuple[str, object, object]] = []
        if step.line_status is not None:
            checks.append(("line_status", step.line_status, value(f"{LINE}Status")))
        for name, path, bounds in (
            ("dsl_down_kbps", f"{DSL}X_SOFTATHOME-COM_DownstreamIPRate", step.dsl_down_kbps),
            ("dsl_up_kbps", f"{DSL}X_SOFTATHOME-COM_UpstreamIPRate", step.dsl_up_kbps),
        ):
            if bounds is not None:
                rate = int(value(path) or 0)
                low = bounds.min if bounds.min is not None else rate
                high = bounds.max if bounds.max is not None else rate
                wanted = f"within {bounds.min}..{bounds.max} kb/s"
                checks.append((name, wanted, wanted if low <= rate <= high else f"{rate} kb/s"))
        if step.wan is not None:
            checks.append(("wan", step.wan, "up" if value(f"{WAN}Status") == "Up" else "down"))
        if step.provisioned is not None:
            got = _provision_verdict(box.last_provision) if box.last_provision else "never"
            checks.append(("provisioned", step.provisioned, got))
        return checks

    def _expect_invoice(self, step: ExpectStep) -> list[tuple[str, object, object]]:
        account = step.invoice or ""
        invoices = [i for i in self._rater_invoices() if i.account == account]
        if step.month is not None:
            invoices = [i for i in invoices if i.month == step.month]
        if not invoices:
            raise LabError(
                f"no invoice for {account}" + (f" in {step.month}" if step.month else "")
            )
        invoice = invoices[-1]
        checks: list[tuple[str, object, object]] = []
        if step.total_eur is not None:
            checks.append(("total_eur", Decimal(str(step.total_eur)), invoice.total))
        if step.calls_eur is not None:
            checks.append(
                ("calls_eur", Decimal(str(step.calls_eur)), invoice.calls.quantize(_CENT))
            )
        if step.fees_eur is not None:
            checks.append(("fees_eur", Decimal(str(step.fees_eur)), invoice.fees.quantize(_CENT)))
        return checks

    def _expect_sla(self, step: ExpectStep) -> list[tuple[str, object, object]]:
        box = self._targets(step.sla or "")[0]
        verdict = self._verdict(box)
        if verdict is None:
            raise LabError(f"{box.served.name} has had no restored fault to judge")
        checks: list[tuple[str, object, object]] = []
        if step.met is not None:
            checks.append(("met", step.met, verdict.met))
        if step.penalty_eur is not None:
            checks.append(("penalty_eur", Decimal(str(step.penalty_eur)), verdict.penalty))
        return checks

    def _verdict(self, box: _Box) -> SlaVerdict | None:
        if not box.incidents:
            return None
        return assess(
            box.incidents[-1],
            monthly_subscription=box.offer.monthly_price_eur,
            now=self.clock.now(),
        )

    def _expect_fleet(self, step: ExpectStep) -> list[tuple[str, object, object]]:
        outcome = self.fleet_runs.get(step.fleet or "")
        if outcome is None:
            raise LabError(f"no provisioning of {step.fleet!r} was run")
        results = list(outcome.results.values())
        succeeded = sum(1 for r in results if not (r.failed or r.skipped))
        checks: list[tuple[str, object, object]] = []
        if step.succeeded is not None:
            checks.append(("succeeded", step.succeeded, succeeded))
        if step.failed is not None:
            checks.append(("failed", step.failed, len(outcome.failed)))
        if step.stopped is not None:
            checks.append(("stopped", step.stopped, bool(outcome.skipped)))
        return checks

    # -- money ----------------------------------------------------------------------------

    def _rate(self, record: CallRecord) -> None:
        offer = self._account_offer.get(record.account)
        if offer is None:
            return
        rater = self.raters.get(offer.name)
        if rater is None:
            rater = self.raters[offer.name] = Rater(self.catalogue, offer, numbering=self.plan)
        # The core hands a call's records over as the call joins its log: it is the last one.
        call = self._core.log[-1]
        self.priced.setdefault(id(call), []).append(rater.rate(record))

    def _penalties(self) -> dict[tuple[str, str], Decimal]:
        penalties: dict[tuple[str, str], Decimal] = {}
        for box in self.boxes.values():
            verdict = self._verdict(box)
            if verdict is not None and verdict.penalty:
                incident = box.incidents[-1]
                month = incident.signalled_at.astimezone(PARIS).strftime("%Y-%m")
                key = (box.served.name, month)
                penalties[key] = penalties.get(key, Decimal(0)) + verdict.penalty
        return penalties

    def _rater_invoices(self) -> list[Any]:
        penalties = self._penalties()
        return [i for rater in self.raters.values() for i in rater.invoices(penalties)]

    def _invoices(self) -> list[InvoiceResult]:
        results = []
        for invoice in self._rater_invoices():
            lines = (
                InvoiceLine("subscription", invoice.subscription),
                InvoiceLine("Livebox pro rental", invoice.rental),
                InvoiceLine(
                    f"calls ({invoice.call_count}: {invoice.included_count} included, "
                    f"{invoice.not_priced_count} not priced)",
                    invoice.calls.quantize(_CENT),
                ),
                InvoiceLine("fees", invoice.fees.quantize(_CENT)),
                InvoiceLine("SLA penalties", -invoice.penalties),
            )
            results.append(
                InvoiceResult(invoice.account, invoice.offer, invoice.month, lines, invoice.total)
            )
        return results

    def _call_result(self, name: str, call: Call) -> CallResult:
        legs = tuple(
            PricedLeg(
                account=p.record.account,
                line=str(p.record.line),
                caller=p.record.caller,
                callee=p.record.callee,
                duration_s=p.record.duration_s,
                disposition=str(p.record.disposition),
                forwarded_from=p.record.forwarded_from,
                forward_reason=str(p.record.forward_reason) if p.record.forward_reason else None,
                kind=p.record.kind,
                price_eur=p.cost.quantize(_CENT),
                rule=p.rule,
            )
            for p in self.priced.get(id(call), [])
        )
        return CallResult(
            id=name,
            caller=call.caller,
            dialled=call.dialled,
            answered_by=call.answered_by,
            status=call.status,
            disposition=str(call.disposition) if call.disposition else None,
            duration_s=call.duration_s,
            hops=tuple((h.forwarder, h.target, str(h.reason)) for h in call.hops),
            legs=legs,
            ladder=tuple(
                Ladder(at, source, target, label) for at, source, target, label in call.events
            ),
        )


_CENT = Decimal("0.01")
#: Traffic steps: the correspondents answer after a second; calls are placed from 9:00 to 18:00.
TRAFFIC_ANSWER_S = 1
WORKING_HOURS = (9, 18)


def _correspondents(step: TrafficStep, rng: random.Random) -> list[str]:
    """Distinct numbers: metropolitan fixed, mobiles and abroad (Senegal, outside every plan)."""
    count = step.correspondents or step.calls
    people = []
    for index in range(count):
        draw = rng.random()
        if draw < step.mobile_share:
            people.append(f"+336{10000000 + index:08d}")
        elif draw < step.mobile_share + step.abroad_share:
            people.append(f"+22133{8000000 + index:07d}")
        else:
            people.append(f"+3314{5000000 + index:07d}")
    return people


def _kind_of(number: str) -> str:
    if number.startswith("+336"):
        return "mobile"
    return "fixed" if number.startswith("+33") else "abroad"


def _working_moment(start: dt.datetime, day: int, rng: random.Random) -> dt.datetime:
    """A moment of working hours (Paris) on the `day`-th day after `start` (0: that day)."""
    date = start.date() + dt.timedelta(days=day)
    opens, closes = WORKING_HOURS
    second = rng.randrange(opens * 3600, closes * 3600)
    moment = dt.datetime.combine(date, dt.time(), tzinfo=PARIS) + dt.timedelta(seconds=second)
    return max(moment, start)


def _provision_verdict(result: BoxResult | None, *, check: bool = False) -> str:
    """changed, unchanged or failed; with `check`, whether the diff would change the box."""
    if result is None:
        return "never"
    if result.failed or result.skipped:
        return "failed"
    if check:
        return "changed" if result.diff else "unchanged"
    return "changed" if result.changed else "unchanged"


def _paris(moment: dt.datetime) -> str:
    return moment.astimezone(PARIS).strftime("%a %d %b %Y %H:%M %Z")


def _describe(step: Any) -> tuple[str, str]:
    """The step's kind and what it says, as the scenario wrote it."""
    kinds: dict[type, str] = {
        ProvisionStep: "provision",
        CallStep: "call",
        ForwardingStep: "forwarding",
        StarCodeStep: "star_code",
        ContinuityStep: "continuity",
        FaultStep: "fault",
        RestoreStep: "restore",
        AdvanceStep: "advance",
        ExpectStep: "expect",
    }
    kind = kinds.get(type(step), type(step).__name__)
    fields = step.model_dump(exclude_none=True, exclude_defaults=True, by_alias=True)
    shown = ", ".join(f"{k}={v}" for k, v in fields.items())
    return kind, shown


async def run_scenario(scenario: Scenario, **options: Any) -> LabResult:
    """Play one scenario; see LabRun."""
    return await LabRun(scenario, **options).run()
