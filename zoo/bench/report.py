"""Benchmark output: a table on screen, JSON stamped with the machine, Markdown, a PNG plot, and run-to-run comparison."""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import zoo
from zoo.ops.backend import cpuinfo

ROW_KEY = ("kind", "family", "case", "device", "dtype", "direction")


def wide_console() -> Console:
    """A console that keeps tables on one line per row also when output goes to a file or pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=180)


def _cpu_model() -> str:
    """The model name with the CPU family and model: these VMs name every AMD CPU just "AMD EPYC",
    and family 25 is Zen 3 (model 1, AVX2 only) or Zen 4 (model 17, AVX-512 in two halves), 26
    Zen 5 (AVX-512 at full width)."""
    fields = cpuinfo()
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    name, family, model = fields["model name"], fields.get("cpu family"), fields.get("model")
    if family:
        name += f", CPU family {family}"
        if model:
            name += f" model {model}"
    return name


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(zoo.__file__).parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(threads: int, command: str) -> dict:
    """What a reader needs to trust or reproduce a result."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "zoo": zoo.__version__,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device_name": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "cpu_model": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
    }


def add_peak_fraction(rows: list[dict], peak_gflops: float | None) -> None:
    """Our GFLOP/s as a percentage of the machine's peak, for FLOP-counted rows."""
    for r in rows:
        if peak_gflops and r.get("unit") == "GFLOP/s" and "throughput" in r:
            r["pct_peak"] = 100 * r["throughput"] / peak_gflops


def _throughput(r: dict) -> str:
    """Ours, and for FLOP-counted rows both sides' share of the machine's peak (the same FLOPs over each
    side's median time): a baseline already near the peak bounds the speedup any kernel could reach."""
    if "throughput" not in r:
        return "-"
    if "pct_peak" not in r:
        return f"{r['throughput']:.1f} {r['unit']}"
    peak = f"{r['pct_peak']:.0f}% peak"
    if r.get("zoo_ms") and r.get("torch_ms"):
        peak += f", baseline {r['pct_peak'] * r['zoo_ms'] / r['torch_ms']:.0f}%"
    return f"{r['throughput']:.1f} {r['unit']} ({peak})"


def _fmt(row: dict, key: str, spec: str = ".3f") -> str:
    value = row.get(key)
    return "-" if value is None else format(value, spec)


COLUMNS = ("case", "dtype", "dir", "status", "zoo ms", "baseline ms", "speedup (p20-p80)", "zoo throughput",
           "peak MB (zoo / baseline)")


def _status(r: dict) -> str:
    if r["status"] == "failed":
        return f"failed (err {r.get('max_abs_err', float('nan')):.2g})"
    if r["status"] == "error":  # the first line, which must not break a Markdown table
        return "error " + r.get("error", "").strip().split("\n")[0].replace("|", "/")
    return r["status"]


def _peak_memory(r: dict) -> str:
    return f"{r['zoo_peak_mb']:.1f} / {r['torch_peak_mb']:.1f}" if "zoo_peak_mb" in r else "-"


def _cells(r: dict) -> list[str]:
    """One row's cells, in COLUMNS order; the same for the screen and Markdown."""
    speed = "-" if "speedup" not in r else f"{r['speedup']:.2f}x ({r['speedup_lo']:.2f}-{r['speedup_hi']:.2f})"
    return [f"{r['family']}: {r['case']}", r["dtype"], r["direction"], _status(r),
            _fmt(r, "zoo_ms"), _fmt(r, "torch_ms"), speed, _throughput(r), _peak_memory(r)]


def print_table(rows: list[dict], console: Console | None = None) -> None:
    table = Table(*COLUMNS)
    for r in rows:
        cells = _cells(r)
        if r["status"] != "ok":
            cells[3] = f"[red]{escape(cells[3])}[/red]"
        table.add_row(*cells)
    (console or wide_console()).print(table)


def write_json(path: str | Path, runs: list[dict]) -> None:
    """One run as {"environment", "rows"}; several (a report combining runs) as {"runs": [...]}."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(runs[0] if len(runs) == 1 else {"runs": runs}, indent=2))


def read_runs(path: str | Path) -> list[dict]:
    """The runs in a file written by --json: each {"environment": ..., "rows": [...]}."""
    data = json.loads(Path(path).read_text())
    runs = data.get("runs", [data]) if isinstance(data, dict) else None
    if not runs or not all(isinstance(r, dict) and {"environment", "rows"} <= set(r) for r in runs):
        raise ValueError(f"{path} is not a zoo bench JSON file (needs 'environment' and 'rows', or 'runs' of them)")
    return runs


def rows_of(runs: list[dict]) -> list[dict]:
    return [row for run in runs for row in run["rows"]]


def _run_section(env: dict, rows: list[dict]) -> list[str]:
    return [
        f"## {env['device_name'] or env['cpu_model']}, {env['threads']} threads, {env['date'][:16].replace('T', ' ')}",
        "",
        f"Measured {env['date']}, torch {env['torch']}, zoo commit {(env['git_commit'] or 'unknown')[:10]}."
        + (f" Peak {env['peak_gflops']:.0f} GFLOP/s ({env['peak_source']})." if env.get("peak_gflops") else "")
        + (f" Op and model rows ran ours under backend {env['backend']}." if env.get("backend") else "")
        + f" Command: `{env['command']}`",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
        *("| " + " | ".join(_cells(r)) + " |" for r in rows),
        "",
    ]


def markdown(runs: list[dict], source: str | None = None) -> str:
    """The runs as Markdown, a section each; `source` is the JSON file they were read from, if any."""
    lines = [
        "# zoo benchmarks",
        "",
        "Generated by `zoo bench report` from the JSON of the runs below"
        + (f" (`{source}`; regenerate this page with `zoo bench report {source} --markdown FILE`)" if source else "")
        + "; do not edit the numbers by hand. Speedup is PyTorch's median time over ours, measured side by "
        "side in one process; p20-p80 of the ratio in brackets. Throughput is ours; for FLOP-counted rows "
        "both sides' share of the run's peak follows (ours, then the baseline's, from its median "
        "time). The peak, its source in each section's first line, is mostly the best GEMM measured in the run, "
        "a little under the FMA limit: a baseline near "
        "100% bounds the speedup of any kernel doing the same FLOPs (Winograd's convs do fewer, and pass "
        "100%). The baseline is PyTorch's own op for op "
        "rows, the reference backend (PyTorch's own ops) on the same model for model rows, and the library "
        "the model comes from (transformers, torchvision, timm) with the same weights for peer rows. Peak MB "
        "(model rows): "
        "the weights plus the forward's high-water mark of allocations, from torch.profiler's memory events "
        "on CPU, with our kernels / with the reference backend. Model rows of runs before zoo commit a9fb912 "
        "(2026-12-04) had a slower reference: attention composed with its score matrix materialised, and "
        "a Python step loop for LSTM/GRU/RNN layers, where it now runs F.scaled_dot_product_attention "
        "and torch.lstm/gru.",
        "",
    ]
    for run in runs:
        lines += _run_section(run["environment"], run["rows"])
    return "\n".join(lines)


def plot(path: str | Path, rows: list[dict]) -> None:
    """A horizontal bar per timed case: speedup over PyTorch, with the p20-p80 spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = [r for r in rows if "speedup" in r]
    labels = [f"{r['family']}: {r['case']} [{r['direction']}]" for r in timed]
    speed = [r["speedup"] for r in timed]
    err = [[r["speedup"] - r["speedup_lo"] for r in timed], [r["speedup_hi"] - r["speedup"] for r in timed]]
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(timed) + 1.5))
    colors = ["tab:green" if s >= 1 else "tab:red" for s in speed]
    ax.barh(range(len(timed)), speed, xerr=err, color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(timed)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("speedup over PyTorch (median; whiskers p20-p80)")
    ax.set_title("zoo kernels vs PyTorch")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare(a: list[dict], b: list[dict]) -> list[dict]:
    """Rows present in both sets of rows with the change in our time (b/a) and in speedup."""
    before = {tuple(r[k] for k in ROW_KEY): r for r in a if "zoo_ms" in r}
    changes = []
    for r in b:
        key = tuple(r[k] for k in ROW_KEY)
        if "zoo_ms" in r and key in before:
            old = before[key]
            changes.append({"case": f"{r['family']}: {r['case']} [{r['direction']}, {r['dtype']}]",
                            "zoo_ms_a": old["zoo_ms"], "zoo_ms_b": r["zoo_ms"],
                            "time_ratio": r["zoo_ms"] / old["zoo_ms"],
                            "speedup_a": old["speedup"], "speedup_b": r["speedup"]})
    return changes
