"""Rating speed and memory: a seeded synthetic mix of calls of every kind and zone, streamed.

Usage: python benchmarks/rating.py [--calls 1000000] [--seed 2013]

Records are generated in batches (outside the timed part) and rated by three raters, one
per plan, accounts spread over them; only rating is timed. Peak resident memory is read
after every batch, so that a leak shows as a rising curve. Ends with one line:
RESULT calls_per_s=N peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import time
from collections.abc import Iterator
from decimal import Decimal

import phonenumbers

from profiles.catalogue import Catalogue
from profiles.model import LineName
from profiles.numbering import NumberingError, NumberingPlan
from profiles.rating import Rater
from profiles.records import PARIS, CallRecord, Disposition

BATCH = 20_000
ACCOUNTS = 3_000
FOREIGN_TYPES = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def number_pool(rng: random.Random, plan: NumberingPlan) -> list[str]:
    """Distinct dialled numbers in realistic proportions, every one accepted by the plan."""

    def national(prefixes: list[str], count: int) -> list[str]:
        numbers = []
        for _ in range(count):
            prefix = rng.choice(prefixes)
            rest = 9 - len(prefix)
            numbers.append(f"0{prefix}{rng.randrange(10**rest):0{rest}d}")
        return numbers

    pool = national(["14", "15", "24", "38", "47", "56"], 6000)  # metropolitan fixed
    pool += national(["61", "62", "67", "75", "78"], 4000)  # metropolitan mobiles
    pool += national(["970", "972", "981"], 800)  # n° IP
    pool += national(["590", "596", "262", "690", "696", "692", "269", "639"], 400)  # overseas
    pool += ["112", "15", "17", "3901", "1016", "0892680202", "3639"] * 20
    foreign: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in FOREIGN_TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            digits = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            for _ in range(8):
                tail = "".join(rng.choice("0123456789") for _ in range(3))
                foreign.append(digits[:-3] + tail)
    pool += foreign
    accepted = []
    for number in pool:
        try:
            plan.classify(number)
        except NumberingError:
            continue
        accepted.append(number)
    return accepted


def batches(rng: random.Random, pool: list[str], calls: int) -> Iterator[list[CallRecord]]:
    """Calls in time order over three months, in batches of BATCH records."""
    start = dt.datetime(2026, 9, 1, tzinfo=PARIS)
    step = dt.timedelta(days=91) / calls
    accounts = [f"acct-{n:04d}" for n in range(ACCOUNTS)]
    lines = (LineName.CLASSIC, LineName.VOIP)
    made = 0
    while made < calls:
        size = min(BATCH, calls - made)
        batch = []
        for i in range(made, made + size):
            answered = rng.random() < 0.9
            batch.append(
                CallRecord(
                    start=start + step * i,
                    line=lines[i & 1],
                    caller="0145000000",
                    callee=rng.choice(pool),
                    duration_s=int(rng.expovariate(1 / 180)) if answered else 0,
                    account=rng.choice(accounts),
                    disposition=Disposition.ANSWERED if answered else Disposition.NO_ANSWER,
                )
            )
        made += size
        yield batch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2013)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    catalogue = Catalogue.load()
    plan = catalogue.numbering_plan()
    pool = number_pool(rng, plan)
    raters = [Rater(catalogue, name, numbering=plan) for name in sorted(catalogue.offers)]
    rater_of = {f"acct-{n:04d}": raters[n % len(raters)] for n in range(ACCOUNTS)}
    print(f"{len(pool)} distinct numbers, {args.calls} calls, {ACCOUNTS} accounts on 3 plans")

    rated = 0
    elapsed = 0.0
    rss_curve = []
    total_x60 = Decimal(0)
    for batch in batches(rng, pool, args.calls):
        began = time.perf_counter()
        for record in batch:
            total_x60 += rater_of[record.account].rate(record).cost_x60
        elapsed += time.perf_counter() - began
        rated += len(batch)
        rss_curve.append(peak_rss_mb())
        if rated % 200_000 == 0:
            print(f"  {rated:>9} calls  {rated / elapsed:>10,.0f} calls/s  {rss_curve[-1]:.0f} MB")

    invoices = [invoice for rater in raters for invoice in rater.invoices()]
    print(f"{len(invoices)} invoices, out-of-plan calls {total_x60 / 60:.2f} EUR HT")
    print(
        f"peak RSS after the first batch {rss_curve[0]:.0f} MB, at the end {rss_curve[-1]:.0f} MB"
    )
    print(f"RESULT calls_per_s={rated / elapsed:.0f} peak_rss_mb={rss_curve[-1]:.0f}")


if __name__ == "__main__":
    main()
