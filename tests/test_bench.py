"""The benchmark harness on tiny cases: it catches wrong kernels and writes what it promises. No speed is asserted."""

from __future__ import annotations

import dataclasses
import json

import pytest

import zoo
from zoo.bench import attention as attention_cases
from zoo.bench import bias_act as bias_act_cases
from zoo.bench import conv as conv_cases
from zoo.bench import linear as linear_cases
from zoo.bench import recurrent as recurrent_cases
from zoo.bench import memory, report, runner
from zoo.bench.cli import add_bench_parser  # noqa: F401  (the CLI wiring imports cleanly)
from zoo import cli
from zoo.ops.backend import cpuinfo

TINY = dataclasses.replace(bias_act_cases._case((4, 8, 5), 1, "gelu"), name="tiny")


def run_case(case, direction="fwd+bwd"):
    import torch

    return runner.run_op_case(case, device="cpu", dtype=torch.float32, direction=direction, threads=1, rounds=1)


@pytest.mark.parametrize("case", [TINY, attention_cases._case(2, 2, 9, 33, 16, True),
                                  recurrent_cases._case("gru", 5, 2, 3, 4, 2, True),
                                  conv_cases._case(2, 3, 9, 5, 3, 2), conv_cases._case(1, 2, 5, 3, 3, 1, 3),
                                  linear_cases._case(5, 7, 9)],
                         ids=["bias_act", "attention", "gru", "conv2d", "conv3d", "linear"])
def test_a_correct_kernel_is_timed(case):
    row = run_case(case)
    assert row["status"] == "ok", row
    assert row["zoo_ms"] > 0 and row["torch_ms"] > 0 and row["speedup_lo"] <= row["speedup"] <= row["speedup_hi"]


@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
def test_a_wrong_kernel_is_marked_failed_and_not_timed(direction):
    wrong = dataclasses.replace(TINY, zoo=lambda x, b, act, dim: zoo.ops.bias_act(x, b, act, dim) * 1.001)
    row = run_case(wrong, direction)
    assert row["status"] == "failed" and "zoo_ms" not in row
    assert row["max_abs_err"] > 2 * row["torch_max_abs_err"]


@pytest.mark.parametrize("mode", ["ext", "auto"])
def test_the_zoo_side_runs_under_the_backend_asked_for(mode, tmp_path):
    import torch

    modes = []
    recording = dataclasses.replace(TINY, zoo=lambda *args: modes.append(zoo.ops.current()) or zoo.ops.bias_act(*args))
    assert runner.run_op_case(recording, device="cpu", dtype=torch.float32, direction="fwd",
                              threads=1, rounds=1, mode=mode)["status"] == "ok"
    assert modes and set(modes) == {mode}
    out = tmp_path / "run.json"
    assert cli.main(["bench", "ops", "--quick", "--rounds", "1", "--threads", "1", "--direction", "fwd", "--op", "bias_act",
                     "--no-progress", "--backend", mode, "--json", str(out), "--markdown", str(tmp_path / "run.md")]) == 0
    assert json.loads(out.read_text())["environment"]["backend"] == mode
    assert f"ran ours under backend {mode}." in (tmp_path / "run.md").read_text()


def test_a_crashing_case_is_an_error_row():
    def explode(*args):
        raise RuntimeError("kernel exploded\n| in detail")

    row = run_case(dataclasses.replace(TINY, zoo=explode))
    assert row["status"] == "error" and "kernel exploded" in row["error"]
    page = report.markdown([{"environment": report.environment(1, "test"), "rows": [row]}])
    (line,) = [line for line in page.splitlines() if "kernel exploded" in line]
    assert line.startswith("| bias_act: tiny |") and "in detail" not in page  # one line: the table stays a table


def test_cpu_model_names_the_cpu_family(tmp_path, monkeypatch):
    """AMD CPUs all called "AMD EPYC" are told apart by family and model (Zen 3: 25 1, Zen 5: 26 2)."""
    path = tmp_path / "cpuinfo"
    processor = "processor\t: {}\nvendor_id\t: AuthenticAMD\ncpu family\t: {}\nmodel\t\t: {}\nmodel name\t: AMD EPYC\n"
    path.write_text(processor.format(0, 26, 2) + "\n" + processor.format(1, 25, 1))
    fields = cpuinfo(str(path))
    assert fields["vendor_id"] == "AuthenticAMD" and fields["cpu family"] == "26"  # the first processor's
    monkeypatch.setattr(report, "cpuinfo", lambda: fields)
    assert report._cpu_model() == "AMD EPYC, CPU family 26 model 2"
    monkeypatch.setattr(report, "cpuinfo", lambda: {"model name": "AMD EPYC", "cpu family": "25"})
    assert report._cpu_model() == "AMD EPYC, CPU family 25"
    monkeypatch.setattr(report, "cpuinfo", lambda: {"model name": "Some CPU"})
    assert report._cpu_model() == "Some CPU"
    assert cpuinfo(str(tmp_path / "missing")) == {}


def test_outputs_json_markdown_png_and_compare(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = cli.main(["bench", "ops", "--quick", "--rounds", "1", "--threads", "1", "--direction", "fwd", "--op", "bias_act",
                     "--no-progress", "--json", str(out), "--markdown", str(tmp_path / "run.md"),
                     "--plot", str(tmp_path / "run.png")])
    assert code == 0
    data = json.loads(out.read_text())
    assert {"date", "command", "git_commit", "torch", "cuda", "device_name", "cpu_model", "threads"} <= set(data["environment"])
    assert data["environment"]["threads"] == 1
    row = data["rows"][0]
    assert {"case", "dtype", "direction", "status", "zoo_ms", "torch_ms", "speedup", "throughput", "unit"} <= set(row)
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| case |" in (tmp_path / "run.md").read_text()

    slower = json.loads(out.read_text())
    for r in slower["rows"]:
        r["zoo_ms"] *= 2
    changes = report.compare(data["rows"], slower["rows"])
    assert changes and all(c["time_ratio"] == pytest.approx(2.0) for c in changes)
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    capsys.readouterr()
    assert cli.main(["bench", "compare", str(out), str(tmp_path / "slower.json")]) == 0
    assert "2.00" in capsys.readouterr().out

    # several runs (another machine, a later fix) make one page, a section each, and one combined file
    slower["environment"]["cpu_model"] = "Other CPU"
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    both = tmp_path / "both.json"
    assert cli.main(["bench", "report", str(out), str(tmp_path / "slower.json"), "--json", str(both),
                     "--markdown", str(tmp_path / "both.md")]) == 0
    assert [r["environment"]["cpu_model"] for r in report.read_runs(both)] == [data["environment"]["cpu_model"], "Other CPU"]
    page = (tmp_path / "both.md").read_text()
    assert page.count("\n## ") == 2 and "## Other CPU, 1 threads" in page
    assert f"regenerate this page with `zoo bench report {both} --markdown FILE`" in page
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a zoo bench JSON file"):
        report.read_runs(bad)


def test_model_rows_compare_backends_and_report_peak_memory():
    name = zoo.list_models()[0]
    row = runner.run_model(name, batch_size=2, threads=1, rounds=1)
    assert row["status"] == "ok", row
    assert row["throughput"] > 0
    weights_mb = zoo.info(name).num_params * 4 / 2**20
    assert row["zoo_peak_mb"] > weights_mb and row["torch_peak_mb"] > weights_mb
    assert "peak MB" in report.markdown([{"environment": report.environment(1, "test"), "rows": [row]}])


def test_peak_memory_is_the_high_water_mark_of_allocations():
    import torch

    def two_live_then_one():
        a = torch.empty(2**18)  # 1 MiB
        b = torch.empty(2**19)  # 2 MiB, while a is live
        del a, b
        torch.empty(2**18)

    assert memory.peak_allocated_bytes(two_live_then_one) == 3 * 2**20


def test_flash_attention_never_holds_the_score_matrix():
    import torch

    q, k, v = torch.randn(3, 1, 1, 2048, 16).unbind(0)
    scores_bytes = 2048 * 2048 * 4
    with zoo.ops.backend("ext"):
        ours = memory.peak_allocated_bytes(lambda: zoo.ops.scaled_dot_product_attention(q, k, v))
    with zoo.ops.backend("torch"):  # PyTorch's own SDPA: flash attention on the CPU too
        pytorch = memory.peak_allocated_bytes(lambda: zoo.ops.scaled_dot_product_attention(q, k, v))
    composed = memory.peak_allocated_bytes(lambda: zoo.ops.scaled_dot_product_attention_reference(q, k, v))
    assert max(ours, pytorch) < scores_bytes / 8 < scores_bytes <= composed


def test_shapes_file_and_percent_of_a_given_peak(tmp_path):
    shapes = tmp_path / "shapes.json"
    shapes.write_text(json.dumps({"attention": [[1, 2, 16, 24, 8, True]]}))
    out = tmp_path / "run.json"
    assert cli.main(["bench", "ops", "--shapes", str(shapes), "--peak-gflops", "100", "--rounds", "1", "--threads", "1",
                     "--direction", "fwd", "--no-progress", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (row,) = data["rows"]
    assert row["case"] == "B1 H2 Lq16 Lk24 D8 causal"
    assert data["environment"]["peak_gflops"] == 100 and data["environment"]["peak_source"] == "--peak-gflops"
    assert row["pct_peak"] == pytest.approx(row["throughput"])
    # the page gives PyTorch's share of the same peak too: the same FLOPs over its median time, half ours here
    row.update(throughput=40.0, pct_peak=40.0, zoo_ms=3.0, torch_ms=6.0)
    assert "| 40.0 GFLOP/s (40% peak, baseline 20%) |" in report.markdown([data])
    shapes.write_text(json.dumps({"convolution": [[1]]}))
    with pytest.raises(SystemExit, match="unknown op family 'convolution'"):
        cli.main(["bench", "ops", "--shapes", str(shapes), "--no-progress"])


def test_quick_models_are_the_smallest_of_each_plugin():
    from zoo.bench.cli import _smallest_per_plugin

    names = zoo.list_models()
    quick = [zoo.info(n) for n in _smallest_per_plugin(names)]
    assert sorted(s.source for s in quick) == sorted({zoo.info(n).source for n in names})
    for spec in quick:
        same_plugin = [zoo.info(n).num_params for n in names if zoo.info(n).source == spec.source]
        assert spec.num_params == min(same_plugin)


def test_peer_rows_time_both_sides_and_report_a_missing_library(monkeypatch):
    spec = zoo.info(zoo.list_models()[0])
    calls = []

    def peer(batch_size):
        return zoo.PeerRun("fake library", lambda: calls.append("ours"), lambda: calls.append("theirs"),
                           units=batch_size * 4, unit="tokens/s")

    def missing(batch_size):
        raise ImportError("No module named 'fakelib'")

    for make, status in ((peer, "ok"), (missing, "error")):
        monkeypatch.setattr(zoo, "info", lambda name, make=make: dataclasses.replace(spec, peer=make))
        row = runner.run_peer(spec.name, batch_size=2, threads=1, rounds=1)
        assert row["status"] == status and row["family"] == "peer"
    assert set(calls) == {"ours", "theirs"}
    assert "fakelib" in row["error"]


def test_max_params_leaves_out_the_larger_models(monkeypatch):
    from zoo.bench import cli as bench_cli

    benched = []
    monkeypatch.setattr(runner, "run_model", lambda name, **kw: benched.append(name))
    args = cli.build_parser().parse_args(["bench", "models", "--max-params", "250e6"])
    for job in bench_cli._jobs(args):
        job()
    assert benched == zoo.list_models(max_params=250e6)
    assert "gpt2-xl" in zoo.list_models() and "gpt2-xl" not in benched


def test_benchmarks_md_is_generated_from_the_committed_json():
    from pathlib import Path

    root = Path(__file__).parents[1]
    runs = report.read_runs(root / "BENCHMARKS.json")
    assert (root / "BENCHMARKS.md").read_text() == report.markdown(runs, "BENCHMARKS.json"), (
        "BENCHMARKS.md was edited by hand: regenerate it with `zoo bench report BENCHMARKS.json --markdown BENCHMARKS.md`")
