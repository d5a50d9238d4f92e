"""`zoo bench ops|models|all|report|compare`: argument parsing and the flow of one run."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

import torch
from rich.table import Table

import zoo
from zoo.bench import attention, bias_act, conv, linear, recurrent, report, runner

# Op family -> its cases(specs, quick) function; one line per family.
FAMILIES = {
    "attention": attention.cases,
    "bias_act": bias_act.cases,
    "conv": conv.cases,
    "linear": linear.cases,
    "gru": recurrent.cases_for("gru"),
    "lstm": recurrent.cases_for("lstm"),
}
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="threads for both sides")
    p.add_argument("--quick", action="store_true", help="fewer cases and rounds, the smallest model of each plugin (a few minutes on 2 cores)")
    p.add_argument("--rounds", type=int, help="alternating timing rounds per case (default 5, quick 3)")
    p.add_argument("--json", metavar="FILE", help="write rows and environment as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown table")
    p.add_argument("--plot", metavar="FILE.png", help="write a speedup bar chart")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--backend", default="ext", choices=["ext", "auto"],
                   help="what the zoo side of op and model rows runs: ext, our kernels everywhere (the default), "
                        "or auto, what zoo.load's models run (PyTorch's op where it is measured faster, zoo doctor)")


def add_bench_parser(sub) -> None:
    bench = sub.add_parser("bench", help="benchmark our kernels and models against PyTorch")
    bsub = bench.add_subparsers(dest="bench_command", required=True)

    def op_args(p):
        p.add_argument("--op", action="append", choices=sorted(FAMILIES), help="op family (repeatable; default all)")
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
        p.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
        p.add_argument("--direction", default="both", choices=["fwd", "fwd+bwd", "both"])
        p.add_argument("--shapes", default=None, metavar="quick|full|FILE.json",
                       help="shape preset, or a JSON file {family: [case spec, ...]} (default: full, quick with --quick)")
        p.add_argument("--peak-gflops", type=float, help="the machine's peak instead of measuring it with a large GEMM")

    def model_args(p):
        p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern over model names")
        p.add_argument("--domain")
        p.add_argument("--batch-size", type=int, default=8)
        p.add_argument("--max-params", type=float, metavar="N",
                       help="leave out models with more parameters than N (e.g. 250e6); undeclared counts are kept")
        p.add_argument("--peers", action="store_true",
                       help="also time each model that declares a peer against that library's model "
                            "(transformers, torchvision, timm) with the same weights")

    p = bsub.add_parser("ops", help="our kernels vs PyTorch's ops")
    op_args(p)
    _output_args(p)
    p.set_defaults(func=run, ops=True, models=False)

    p = bsub.add_parser("models", help="every model on our kernels vs the reference backend")
    model_args(p)
    _output_args(p)
    p.set_defaults(func=run, ops=False, models=True)

    p = bsub.add_parser("all", help="ops, then models: the main job")
    op_args(p)
    model_args(p)
    _output_args(p)
    p.set_defaults(func=run, ops=True, models=True)

    p = bsub.add_parser("report", help="table, Markdown and plot regenerated from --json runs (several make one page)")
    p.add_argument("runs", nargs="+", metavar="RUN.json", help="files written by --json (or by report --json)")
    p.add_argument("--json", metavar="FILE", help="write the runs combined into one file")
    p.add_argument("--markdown", metavar="FILE")
    p.add_argument("--plot", metavar="FILE.png")
    p.set_defaults(func=cmd_report)

    p = bsub.add_parser("compare", help="change between two --json runs")
    p.add_argument("a")
    p.add_argument("b")
    p.set_defaults(func=cmd_compare)


def _jobs(args: argparse.Namespace) -> list:
    rounds = args.rounds or (3 if args.quick else 5)
    jobs = []
    if args.ops:
        if args.device == "cuda" and not torch.cuda.is_available():
            raise SystemExit("zoo bench: --device cuda, but no CUDA device is available")
        directions = ["fwd", "fwd+bwd"] if args.direction == "both" else [args.direction]
        specs = _shape_specs(args.shapes)
        quick = args.quick if args.shapes is None else args.shapes == "quick"
        for family in args.op or sorted(specs or FAMILIES):
            if family not in FAMILIES:
                raise SystemExit(f"zoo bench: --shapes names unknown op family {family!r}; known: {', '.join(FAMILIES)}")
            for case in FAMILIES[family](specs.get(family) if specs else None, quick=quick):
                for direction in directions:
                    jobs.append(lambda c=case, d=direction: runner.run_op_case(
                        c, device=args.device, dtype=DTYPES[args.dtype], direction=d,
                        threads=args.threads, rounds=rounds, mode=args.backend))
    if args.models:
        names = zoo.list_models(args.pattern, domain=args.domain, max_params=args.max_params)
        for name in _smallest_per_plugin(names) if args.quick else names:
            jobs.append(lambda n=name: runner.run_model(n, batch_size=args.batch_size,
                                                        threads=args.threads, rounds=rounds, mode=args.backend))
        if args.peers:
            for name in (n for n in names if zoo.info(n).peer is not None):
                jobs.append(lambda n=name: runner.run_peer(n, batch_size=args.batch_size,
                                                           threads=args.threads, rounds=rounds))
    return jobs


def _smallest_per_plugin(names: list[str]) -> list[str]:
    """--quick's model line-up: from each plugin, its model with the fewest parameters."""
    smallest: dict[str, zoo.ModelSpec] = {}
    for spec in map(zoo.info, names):
        best = smallest.get(spec.source)
        if best is None or (spec.num_params or 0) < (best.num_params or 0):
            smallest[spec.source] = spec
    return sorted(spec.name for spec in smallest.values())


def _write_outputs(runs: list[dict], args: argparse.Namespace, source: str | None = None) -> None:
    rows = report.rows_of(runs)
    report.print_table(rows)
    if args.json:
        report.write_json(args.json, runs)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown(runs, source))
    if args.plot:
        report.plot(args.plot, rows)


def _shape_specs(shapes: str | None) -> dict | None:
    """None for a preset; the family -> specs mapping of a --shapes JSON file."""
    if shapes in (None, "quick", "full"):
        return None
    try:
        with open(shapes) as f:
            specs = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"zoo bench: --shapes {shapes!r} is neither quick, full nor a readable JSON file ({error})") from None
    if not isinstance(specs, dict):
        raise SystemExit(f"zoo bench: --shapes file must hold {{family: [case spec, ...]}}, got {type(specs).__name__}")
    return specs


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    jobs = _jobs(args)
    env = report.environment(args.threads, "zoo " + shlex.join(sys.argv[1:]))
    env["backend"] = args.backend
    if getattr(args, "ops", False):
        env["peak_gflops"], env["peak_source"] = (
            (args.peak_gflops, "--peak-gflops") if args.peak_gflops
            else runner.measure_peak_gflops(args.device, args.threads, DTYPES[args.dtype]))
    rows = runner.run_all(jobs, total=len(jobs), progress=not args.no_progress)
    report.add_peak_fraction(rows, env.get("peak_gflops"))
    _write_outputs([{"environment": env, "rows": rows}], args)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def cmd_report(args: argparse.Namespace) -> int:
    runs = [run for path in args.runs for run in report.read_runs(path)]
    # the page regenerates from the one file holding all its runs: the merged --json, else a single input
    _write_outputs(runs, args, source=args.json or (args.runs[0] if len(args.runs) == 1 else None))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    changes = report.compare(*(report.rows_of(report.read_runs(path)) for path in (args.a, args.b)))
    table = Table("case", "zoo ms (A)", "zoo ms (B)", "B/A time", "speedup A", "speedup B")
    for c in changes:
        table.add_row(c["case"], f"{c['zoo_ms_a']:.3f}", f"{c['zoo_ms_b']:.3f}", f"{c['time_ratio']:.2f}",
                      f"{c['speedup_a']:.2f}x", f"{c['speedup_b']:.2f}x")
    report.wide_console().print(table)
    return 0
