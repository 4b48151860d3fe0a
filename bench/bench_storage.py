"""Storage per citizen, credential, presentation and consent event, measured on PostgreSQL: the
figures docs/capacity.md is derived from.

Reproduce: `.venv/bin/python bench/bench_storage.py [--citizens 200] [--flows 3000] [--bulk-rows 20000]`

A 1-worker server over a fresh PostgreSQL database (tests/load/server.py); each table's size (heap,
indexes and TOAST: `pg_total_relation_size`, after VACUUM ANALYZE) is read at four points: empty
(migrated, demo parties), after the citizens receive their six credentials over HTTP, after the
load test's peak scenario (full youth-allowance presentations, each a consent recorded and logged),
and after a bulk offer. Each phase's growth, divided by what that phase added, is its cost per unit.
Prints a markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from tests.load.citizens import build_population  # noqa: E402
from tests.load.runner import Load, run_scenario  # noqa: E402
from tests.load.server import launched  # noqa: E402


def sizes(engine: Engine) -> dict[str, int]:
    """Bytes on disk per table (with its indexes and TOAST), after VACUUM ANALYZE."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        rows = conn.execute(
            text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        )
        return {name: int(size) for name, size in rows}


def count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def growth(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {t: after[t] - before.get(t, 0) for t in after if after[t] - before.get(t, 0) > 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--flows", type=int, default=3000)
    parser.add_argument("--bulk-rows", type=int, default=20_000)
    args = parser.parse_args()
    with launched("postgres", workers=1) as target:
        engine = target.engine
        empty = sizes(engine)
        population = build_population(target.base_url, engine, args.citizens, churn=False)
        issued = sizes(engine)
        credentials = count(engine, "SELECT count(*) FROM issuer_offers WHERE state = 'issued'")
        load = Load(processes=1, threads=8, duration=240, max_flows=args.flows, bulk_rows=args.bulk_rows)
        run_scenario("peak", target, population, load)
        presented = sizes(engine)
        flows = count(engine, "SELECT count(*) FROM presentation_requests WHERE status = 'answered'")
        events = count(engine, "SELECT count(*) FROM consent_events")
        load.duration, load.max_flows = 240, 1
        run_scenario("cohort", target, population, load)
        bulk = sizes(engine)
        offers = count(engine, "SELECT count(*) FROM issuer_offers WHERE subject LIKE 'cohort-%'")
    phases = [
        (f"a credential issued over HTTP ({credentials})", growth(empty, issued), credentials),
        (f"a full presentation answered, its consent logged ({flows})", growth(issued, presented), flows),
        (f"an offer of a bulk batch ({offers})", growth(presented, bulk), offers),
    ]
    lines = ["| each … | bytes | of which the largest tables |", "|---|---:|---|"]
    for label, grown, units in phases:
        top = sorted(grown.items(), key=lambda item: -item[1])[:4]
        where = ", ".join(f"{t} {size / units:,.0f}" for t, size in top)
        lines.append(f"| {label} | {sum(grown.values()) / units:,.0f} | {where} |")
    lines.append("")
    presentation = growth(issued, presented)
    log_tables = ("consent_events", "consent_log_leaves", "consent_log_nodes", "consent_log_checkpoints")
    per_event = sum(presentation.get(t, 0) for t in log_tables) / max(events - 0, 1)
    lines.append(f"Consent events per presentation: {events / max(flows, 1):.1f} (requested, granted, used).")
    lines.append(
        f"A consent event in the log (its event row, leaf, subtree nodes and its share of the checkpoints): "
        f"{per_event:,.0f} bytes. Every table a presentation grew, bytes per presentation: "
        + ", ".join(f"{t} {size / max(flows, 1):,.0f}" for t, size in sorted(presentation.items(), key=lambda i: -i[1]))
        + "."
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
