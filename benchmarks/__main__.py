"""asynctasq against its Python peers, side by side in one run.

    python -m benchmarks                 # `make bench`: N=20,000, 3 runs, writes the docs
    python -m benchmarks --quick         # `make bench-quick`: a smoke run, docs untouched
    python -m benchmarks --systems asynctasq-redis,arq,rq --runs 5
    python -m benchmarks --sweep 10,20,50,100,200   # find each system's best concurrency
    python -m benchmarks --from-json results.json   # tables and charts again, no measuring

Installs each peer into benchmarks/.venv-peers/<peer>/ (pins in
benchmarks/requirements-peers.txt), runs every scenario for asynctasq and each peer
against the local Redis and PostgreSQL, prints the tables, and (full runs) rewrites
the peers section of docs/benchmarks.md and the charts in docs/img/.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from benchmarks.peers import ENTRIES
from benchmarks.suite import charts, extras, plan, report
from benchmarks.suite.orchestrator import Options, Suite
from benchmarks.suite.results import Results

ROOT = Path(__file__).resolve().parent.parent


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _numbers(text: str) -> list[int]:
    return [int(x) for x in _names(text)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: N=1,000, 1 run")
    parser.add_argument("--jobs", type=int, help="N, jobs per step (default 20,000)")
    parser.add_argument("--runs", type=int, help="runs per system (default 3)")
    parser.add_argument(
        "--systems",
        type=_names,
        help=f"comma-separated, from: {', '.join(ENTRIES)} (default: all)",
    )
    parser.add_argument("--docs", type=Path, help="markdown file whose peers section to rewrite")
    parser.add_argument("--no-docs", action="store_true", help="print only, write no docs")
    parser.add_argument("--img-dir", type=Path, help="where the charts go (default: docs/img)")
    parser.add_argument("--json", type=Path, help="also save every figure as JSON here")
    parser.add_argument("--from-json", type=Path, help="report saved figures, measure nothing")
    parser.add_argument("--sweep", type=_numbers, help="drain at these concurrencies instead")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="no database")
    parser.add_argument(
        "--postgres-dsn", default="postgresql://postgres@127.0.0.1:5432", help="no database name"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="skip peers whose virtualenv is missing"
    )
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="skip asynctasq's own figures (memory-broker drain, start-up, RSS)",
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.systems or [] if s not in ENTRIES]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}: choose from {', '.join(ENTRIES)}")
    return args


def measure(args: argparse.Namespace, console: Console) -> Results:
    budget = plan.budget(quick=args.quick, jobs=args.jobs, runs=args.runs)
    if args.sweep and not args.runs:
        budget = plan.Budget(**{**budget.as_dict(), "runs": 1})
    systems = args.systems or [name for name, e in ENTRIES.items() if e.default]
    options = Options(
        systems=systems,
        budget=budget,
        redis_url=args.redis_url.rstrip("/"),
        postgres_dsn=args.postgres_dsn.rstrip("/"),
        workdir=Path(tempfile.mkdtemp(prefix="asynctasq-bench-")),
        install=not args.no_install,
        sweep=args.sweep,
    )
    suite = Suite(options, console)
    suite.results.command = shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])
    ready = suite.prepare()
    if not ready:
        console.print("[red]no system can run[/]: see the reasons above")
        return suite.results
    if args.sweep:  # a system with one fixed concurrency has nothing to sweep
        ready = [s for s in ready if not suite.results.systems[s].get("fixed_concurrency")]
    console.print(f"workers' logs and raw figures: {options.workdir}")
    results = suite.run(ready)
    if not args.sweep and not args.no_extras:
        results.extras = extras.measure(
            budget,
            args.quick,
            redis_url=f"{options.redis_url}/0",
            postgres_dsn=f"{options.postgres_dsn}/postgres",
            say=console.print,
        )
    results.save(options.workdir / "results.json")
    return results


def print_sweep(results: Results, console: Console) -> None:
    for system, figures in results.samples.items():
        rates = {
            int(key.removeprefix("sweep_c")): summary.median
            for key in figures
            if (summary := results.summary(system, key)) is not None
        }
        best = max(rates, key=lambda c: rates[c])
        shown = ", ".join(f"c{c}: {r:,.0f}" for c, r in sorted(rates.items()))
        console.print(f"{system}: {shown} jobs/s -> best concurrency {best}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=200)
    started = time.monotonic()
    results = Results.load(args.from_json) if args.from_json else measure(args, console)
    if args.json:
        results.save(args.json)
    if args.sweep:
        print_sweep(results, console)
        return 0
    report.print_tables(results, console)
    docs = (
        None
        if args.no_docs
        else args.docs or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    )
    if docs is not None and results.systems:
        images = charts.draw(results, args.img_dir or docs.parent / "img")
        report.write_section(docs, report.section(results, images, docs))
        console.print(f"wrote {docs} and {len(images)} chart(s)")
    elif args.quick:
        console.print("quick mode: docs left unchanged (pass --docs PATH to write them)")
    console.print(f"done in {time.monotonic() - started:.0f}s")
    return 0 if results.systems else 1


if __name__ == "__main__":
    sys.exit(main())
