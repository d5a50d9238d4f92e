"""The `zoo` command: list, info, plugins, weights, check, capabilities, train, doctor, bench."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import platform
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from rich.table import Table

import zoo
from zoo import capabilities
from zoo.bench.report import wide_console
from zoo.plugins import PluginLoadError, default_plugins

console = wide_console()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _spec_row(spec: zoo.ModelSpec) -> dict[str, Any]:
    weights = default_plugins().registry.weights.values()
    return {
        "name": spec.name,
        "domain": spec.domain,
        "task": spec.task,
        "num_params": spec.num_params,
        "ops": list(spec.ops),
        "paper": spec.paper,
        "default_config": spec.default_config,
        "source": spec.source,
        "weights": [w.tag for w in weights if w.model == spec.name],
        "preprocessing": None if spec.preprocessing is None else dataclasses.asdict(spec.preprocessing),
        "train_recipe": spec.train is not None,
    }


def cmd_list(args: argparse.Namespace) -> int:
    rows = [_spec_row(zoo.info(n)) for n in zoo.list_models(args.pattern, domain=args.domain, task=args.task)]
    found = capabilities.load_results() if args.long else {}
    if args.long:
        for r in rows:
            r["capabilities"] = {c: dataclasses.asdict(o) for c, o in found.get(r["name"], {}).items()}
    if args.json:
        _print_json(rows)
        return 0
    table = Table("name", "domain", "task", "params", "zoo ops", "source",
                  *(("compile", "export", "onnx") if args.long else ()))
    for r in rows:
        params = f"{r['num_params']:,}" if r["num_params"] is not None else "?"
        long = [r["capabilities"].get(c, {}).get("summary", "-") for c in capabilities.CHECKS] if args.long else []
        table.add_row(r["name"], r["domain"], r["task"], params, ", ".join(r["ops"]), r["source"], *long)
    console.print(table)
    console.print(f"{len(rows)} model(s)")
    if args.long:
        console.print(f"compile/export/onnx: as `zoo capabilities` last found them on this machine "
                      f"({capabilities.results_path()}); '-' is not checked yet", highlight=False)
    return 0


def cmd_capabilities(args: argparse.Namespace) -> int:
    names = zoo.list_models(args.pattern, domain=args.domain, max_params=args.max_params)
    checks = tuple(args.check or capabilities.CHECKS)
    found = {}
    for name in names:
        console.print(f"checking {name} ...", highlight=False)
        found[name] = capabilities.check_capabilities(name, checks, batch_size=args.batch_size)
    path = capabilities.save_results(found)
    if args.json:
        _print_json({m: {c: dataclasses.asdict(o) for c, o in outcomes.items()} for m, outcomes in found.items()})
    else:
        table = Table("model", "check", "result", "detail")
        for model, outcomes in found.items():
            for check, o in outcomes.items():
                table.add_row(model, check, o.summary if o.ok else f"[red]{o.summary}[/red]", o.detail)
        console.print(table)
        console.print(f"saved to {path} (zoo list --long shows it)", highlight=False)
    if args.readme:
        registered = set(zoo.list_models())
        stored = {m: outcomes for m, outcomes in capabilities.load_results().items() if m in registered}
        capabilities.update_readme(Path(args.readme), stored, "zoo " + shlex.join(sys.argv[1:]))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    row = _spec_row(zoo.info(args.name))
    if args.json:
        _print_json(row)
        return 0
    table = Table("field", "value", show_header=False)
    for key, value in row.items():
        table.add_row(key, str(value))
    console.print(table)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    infos = list(default_plugins().infos.values())
    if args.json:
        _print_json([vars(i) for i in infos])
        return 0
    table = Table("plugin", "distribution", "version", "status", "models / error")
    for i in infos:
        style = {"loaded": "green", "failed": "red"}.get(i.status, "yellow")
        detail = ", ".join(i.models) if i.status == "loaded" else i.error
        table.add_row(i.name, i.distribution, i.version, f"[{style}]{i.status}[/{style}]", detail)
    console.print(table)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    registry = default_plugins().registry
    entries = [w for w in registry.weights.values() if args.name in (None, w.model, w.tag)]
    if args.name is not None and not entries and args.name not in registry:
        registry.get(args.name)  # raises UnknownModelError with suggestions
    rows = [{"tag": w.tag, "model": w.model, "file": w.file_name, "present": w.local_path.exists(),
             "path": str(w.local_path), "sha256": w.sha256, "url": w.url, "license": w.license,
             "metrics": dict(w.metrics), "source": w.source} for w in entries]
    if args.json:
        _print_json(rows)
        return 0
    table = Table("tag", "model", "local", "license", "metrics", "source")
    for r in rows:
        local = "[green]present[/green]" if r["present"] else f"[yellow]missing[/yellow] (put {r['file']} in {Path(r['path']).parent})"
        table.add_row(r["tag"], r["model"], local, r["license"], ", ".join(f"{k}={v}" for k, v in r["metrics"].items()), r["source"])
    console.print(table)
    console.print(f"{len(rows)} weights entr{'y' if len(rows) == 1 else 'ies'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from zoo.check import check_model

    result = check_model(args.name, batch_size=args.batch_size)
    if args.json:
        _print_json(result.to_dict())
    else:
        verdict = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        console.print(
            f"{verdict} {result.name} ({result.dtype}): our kernels vs reference "
            f"max abs {result.max_abs:.3g}, max rel {result.max_rel:.3g} "
            f"(tolerance atol {result.atol:g}, rtol {result.rtol:g})"
        )
    return 0 if result.passed else 1


def cmd_train(args: argparse.Namespace) -> int:
    spec = zoo.info(args.name)
    if spec.train is None:
        trainable = [n for n in zoo.list_models() if zoo.info(n).train is not None]
        console.print(f"[red]error:[/red] {args.name!r} has no training recipe; models with one: "
                      f"{', '.join(trainable) or 'none'}", highlight=False)
        return 2
    model, metrics = spec.train(epochs=args.epochs, seed=args.seed, log=console.print)
    path = zoo.save(model, args.output or f"{args.name}.safetensors")
    if args.json:
        _print_json({"name": args.name, "checkpoint": str(path), "metrics": metrics})
    else:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        console.print(f"trained {args.name}: {shown}; saved to {str(path)!r} (zoo.load({str(path)!r}) reads it)",
                      highlight=False)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def system_info() -> dict[str, Any]:
    """Versions, devices and the extension's state: what a bug report needs."""
    status = zoo.ops.extension_status()
    module = status.module
    return {
        "zoo": zoo.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "backend": zoo.ops.current(),
        "extension_loaded": status.loaded,
        "extension_error": status.error,
        "extension_built_for_torch": module.torch_version if module else None,
        "extension_cuda_archs": module.cuda_archs if module else None,
        "ops": {name: [d + _device_note(name, d) for d in status.device_types if d in devices]
                for name, devices in zoo.ops.KERNEL_DEVICES.items()},
    }


def _device_note(op: str, device: str) -> str:
    """Where `auto` keeps an op's device on PyTorch's ops, and why."""
    if device in zoo.ops.EXT_ONLY_DEVICES.get(op, ()):
        return " (ext only: slower than PyTorch's there)"
    linear = importlib.import_module("zoo.ops.linear")  # the module, not zoo.ops.linear the function
    if op == "linear" and device == "cpu" and linear.MKL_ON_INTEL:
        rows = linear.OURS_ON_INTEL_ROWS
        return (f" (auto: ours only for float32 products of {rows.start}-{rows.stop - 1} rows by weights of more "
                f"than {linear.MKL_ON_INTEL_MAX_WEIGHT} elements on this Intel CPU, PyTorch's MKL GEMM otherwise)")
    recurrent = importlib.import_module("zoo.ops.recurrent")
    if op == "lstm" and device == "cpu" and recurrent.ONEDNN_LSTM_IS_FASTER:
        return (f" (auto: PyTorch's oneDNN LSTM for float32 batches of {recurrent.ONEDNN_MIN_BATCH} or more on this "
                "CPU, ours otherwise)")
    return ""


def cmd_doctor(args: argparse.Namespace) -> int:
    info = system_info()
    if args.json:
        _print_json(info)
        return 0
    table = Table("item", "value", show_header=False)
    for key, value in info.items():
        if key != "ops":
            table.add_row(key, str(value))
    console.print(table)
    ops = Table("op", "devices served by zoo kernels")
    for name, devices in info["ops"].items():
        ops.add_row(name, ", ".join(devices) or "none (reference ops only)")
    console.print(ops)
    return 0 if info["extension_loaded"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'res*'")
    p.add_argument("--domain")
    p.add_argument("--task")
    p.add_argument("--long", action="store_true", help="add torch.compile/export/ONNX as `zoo capabilities` found them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="show one model's metadata")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plugins", help="list plugins and whether each loaded")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("weights", help="registered weights and whether each is in the local cache")
    p.add_argument("name", nargs="?", help="a model name or weights tag")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("check", help="compare a model on our kernels with the reference ops")
    p.add_argument("name")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("capabilities", help="run torch.compile, torch.export and ONNX export on models and record what works")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern over model names")
    p.add_argument("--domain")
    p.add_argument("--max-params", type=float, metavar="N", help="leave out models with more parameters than N")
    p.add_argument("--check", action="append", choices=capabilities.CHECKS, help="repeatable; default all")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--readme", metavar="FILE", help="rewrite the capability table in this README with the stored results of every registered model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_capabilities)

    p = sub.add_parser("train", help="run a model's training recipe and save the trained checkpoint")
    p.add_argument("name")
    p.add_argument("--epochs", type=_positive_int, help="default: the recipe's own")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", "-o", help="checkpoint path (default: NAME.safetensors)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("doctor", help="versions, devices, and whether zoo._C loaded")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    from zoo.bench.cli import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (zoo.UnknownModelError, zoo.ops.ExtensionUnavailableError, PluginLoadError) as error:
        console.print(f"[red]error:[/red] {error}", highlight=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
