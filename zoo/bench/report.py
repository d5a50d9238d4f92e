"""Benchmark output: a table on screen, JSON stamped with the machine, Markdown, a PNG plot, and run-to-run comparison."""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import zoo

ROW_KEY = ("kind", "family", "case", "device", "dtype", "direction")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def _fmt(row: dict, key: str, spec: str = ".3f") -> str:
    value = row.get(key)
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict], console: Console | None = None) -> None:
    table = Table("case", "dtype", "dir", "status", "zoo ms", "torch ms", "speedup (p20-p80)", "zoo throughput")
    for r in rows:
        status = r["status"] if r["status"] != "ok" else "[green]ok[/green]"
        if r["status"] == "failed":
            status = f"[red]failed[/red] (err {r.get('max_abs_err', float('nan')):.2g})"
        elif r["status"] == "error":
            status = f"[red]error[/red] {r.get('error', '')}"
        speed = "-" if "speedup" not in r else f"{r['speedup']:.2f}x ({r['speedup_lo']:.2f}-{r['speedup_hi']:.2f})"
        throughput = "-" if "throughput" not in r else f"{r['throughput']:.1f} {r['unit']}"
        table.add_row(f"{r['family']}: {r['case']}", r["dtype"], r["direction"], status,
                      _fmt(r, "zoo_ms"), _fmt(r, "torch_ms"), speed, throughput)
    (console or Console()).print(table)


def write_json(path: str | Path, env: dict, rows: list[dict]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"environment": env, "rows": rows}, indent=2))


def read_json(path: str | Path) -> dict:
    data = json.loads(Path(path).read_text())
    if not {"environment", "rows"} <= set(data):
        raise ValueError(f"{path} is not a zoo bench JSON file (needs 'environment' and 'rows')")
    return data


def markdown(env: dict, rows: list[dict]) -> str:
    lines = [
        f"Measured {env['date']} on {env['device_name'] or env['cpu_model']} ({env['threads']} threads), "
        f"torch {env['torch']}, zoo commit {(env['git_commit'] or 'unknown')[:10]}.",
        "",
        f"Command: `{env['command']}`",
        "",
        "| case | dtype | dir | status | zoo ms | torch ms | speedup (p20-p80) | zoo throughput |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        speed = "-" if "speedup" not in r else f"{r['speedup']:.2f}x ({r['speedup_lo']:.2f}-{r['speedup_hi']:.2f})"
        throughput = "-" if "throughput" not in r else f"{r['throughput']:.1f} {r['unit']}"
        lines.append(f"| {r['family']}: {r['case']} | {r['dtype']} | {r['direction']} | {r['status']} | "
                     f"{_fmt(r, 'zoo_ms')} | {_fmt(r, 'torch_ms')} | {speed} | {throughput} |")
    return "\n".join(lines) + "\n"


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


def compare(a: dict, b: dict) -> list[dict]:
    """Rows present in both runs with the change in our time (b/a) and in speedup."""
    before = {tuple(r[k] for k in ROW_KEY): r for r in a["rows"] if "zoo_ms" in r}
    changes = []
    for r in b["rows"]:
        key = tuple(r[k] for k in ROW_KEY)
        if "zoo_ms" in r and key in before:
            old = before[key]
            changes.append({"case": f"{r['family']}: {r['case']} [{r['direction']}, {r['dtype']}]",
                            "zoo_ms_a": old["zoo_ms"], "zoo_ms_b": r["zoo_ms"],
                            "time_ratio": r["zoo_ms"] / old["zoo_ms"],
                            "speedup_a": old["speedup"], "speedup_b": r["speedup"]})
    return changes
