"""What each model survives beyond eager PyTorch: torch.compile, torch.export, and ONNX run in onnxruntime.

A capability is claimed only when the compiled or exported model ran and gave
the eager outputs (`zoo.check.agreement`), so the table in `zoo list --long` and
the README is what running these checks found (`zoo capabilities`), never a list
typed by hand. Results are kept per machine in $ZOO_HOME/capabilities.json with
the torch version they were found with.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

import zoo
from zoo.check import agreement, flatten_tensors
from zoo.ops import backend
from zoo.weights import zoo_home

CHECKS = ("compile", "export", "onnx")
README_START, README_END = "<!-- zoo capabilities: start -->", "<!-- zoo capabilities: end -->"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    summary: str  # what a table shows: fullgraph, graph breaks, yes, no, wrong outputs, not checked
    detail: str = ""  # the largest difference from eager, or why not


def _reason(error: BaseException) -> str:
    """The error's type and first line, without terminal colours."""
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def _verified(name: str, outputs: Any, eager: list[torch.Tensor], model: torch.nn.Module, inputs: tuple,
              summary: str) -> Outcome:
    result = agreement(name, flatten_tensors(outputs), eager, model, inputs)
    if not result.passed:
        return Outcome(False, "wrong outputs", f"max abs diff {result.max_abs:.3g} from eager")
    return Outcome(True, summary, f"max abs diff {result.max_abs:.2g} from eager")


def _compiled_run(model: torch.nn.Module, inputs: tuple, fullgraph: bool) -> Any:
    import torch._dynamo

    torch._dynamo.reset()
    with torch.no_grad():
        return torch.compile(model, fullgraph=fullgraph)(*inputs)


def check_compile(name: str, model: torch.nn.Module, inputs: tuple, eager: list[torch.Tensor]) -> Outcome:
    """torch.compile (inductor): fullgraph if the model allows, else with graph breaks (the first one named)."""
    graph_break = ""
    try:
        outputs, summary = _compiled_run(model, inputs, fullgraph=True), "fullgraph"
    except Exception as error:
        graph_break = _reason(error)
        try:
            outputs, summary = _compiled_run(model, inputs, fullgraph=False), "graph breaks"
        except Exception as error:
            return Outcome(False, "no", _reason(error))
    outcome = _verified(name, outputs, eager, model, inputs, summary)
    return replace(outcome, detail=graph_break) if outcome.ok and graph_break else outcome


def check_export(name: str, model: torch.nn.Module, inputs: tuple, eager: list[torch.Tensor]) -> Outcome:
    """torch.export.export, our ops as themselves (their fake kernels give the shapes)."""
    try:
        program = torch.export.export(model, inputs)
        with torch.no_grad():
            outputs = program.module()(*inputs)
    except Exception as error:
        return Outcome(False, "no", _reason(error))
    return _verified(name, outputs, eager, model, inputs, "yes")


def check_onnx(name: str, model: torch.nn.Module, inputs: tuple, eager: list[torch.Tensor]) -> Outcome:
    """ONNX export run in onnxruntime. ONNX has no zoo ops, so the export traces our ops' PyTorch
    reference (the backend switch), which the exporter maps to standard ONNX ops."""
    try:
        import onnxruntime  # noqa: F401  (ONNXProgram runs the model in it)
    except ImportError:
        return Outcome(False, "not checked", "onnxruntime is not installed: pip install 'zoo[onnx]'")
    try:
        with backend("torch"):
            program = torch.onnx.export(model, inputs, dynamo=True, verbose=False)
        outputs = program(*inputs)
    except Exception as error:
        return Outcome(False, "no", _reason(error))
    return _verified(name, outputs, eager, model, inputs, "yes")


CHECKERS: dict[str, Callable[[str, torch.nn.Module, tuple, list[torch.Tensor]], Outcome]] = {
    "compile": check_compile, "export": check_export, "onnx": check_onnx,
}


def check_capabilities(name: str, checks: tuple[str, ...] = CHECKS, *, batch_size: int = 2) -> dict[str, Outcome]:
    """Run `checks` on model `name` (eval mode, its example inputs) against its eager outputs on our kernels."""
    unknown = set(checks) - set(CHECKERS)
    if unknown:
        raise ValueError(f"argument 'checks' has unknown {sorted(unknown)}; known: {list(CHECKERS)}")
    spec = zoo.info(name)
    torch.manual_seed(0)
    model = spec.build().eval()
    inputs = tuple(spec.example_inputs(batch_size))
    with torch.no_grad():
        eager = flatten_tensors(model(*inputs))
    return {check: CHECKERS[check](name, model, inputs, eager) for check in checks}


def results_path() -> Path:
    return zoo_home() / "capabilities.json"


def load_results() -> dict[str, dict[str, Outcome]]:
    """model -> check -> Outcome, as last found on this machine (empty if never checked)."""
    try:
        data = json.loads(results_path().read_text())
    except FileNotFoundError:
        return {}
    return {model: {check: Outcome(**o) for check, o in checks.items()} for model, checks in data["models"].items()}


def save_results(found: dict[str, dict[str, Outcome]]) -> Path:
    """Merge newly found outcomes into the stored ones."""
    models = load_results()
    for model, outcomes in found.items():
        models.setdefault(model, {}).update(outcomes)
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "models": {m: {c: asdict(o) for c, o in checks.items()} for m, checks in sorted(models.items())},
    }, indent=2))
    return path


def markdown_table(results: dict[str, dict[str, Outcome]]) -> str:
    lines = ["| model | torch.compile | torch.export | ONNX (onnxruntime) |", "|---|---|---|---|"]
    for model, outcomes in sorted(results.items()):
        cells = [outcomes[c].summary if c in outcomes else "-" for c in CHECKS]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(path: Path, results: dict[str, dict[str, Outcome]], command: str) -> None:
    """Replace the README's capability table (between its two markers) with `results`."""
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no capability section: add the lines {README_START} and {README_END}")
    table = (f"{README_START}\nGenerated by `{command}` with torch {torch.__version__}; do not edit by hand.\n\n"
             f"{markdown_table(results)}\n{README_END}")
    path.write_text(pattern.sub(lambda _: table, text))
