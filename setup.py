"""Builds the torch extension zoo._C from csrc/ (metadata lives in pyproject.toml).

Knobs (environment):
  ZOO_FORCE_CUDA=1   compile the CUDA sources even if no toolkit is detected
  ZOO_SKIP_CUDA=1    never compile the CUDA sources
  ZOO_DEBUG=1        -O0 -g, no NDEBUG
  ZOO_SANITIZE=address,undefined   build the CPU kernels with these sanitizers (.ci/sanitize)
  ZOO_CPU_ISA=avx512|avx2|default   the instruction set of the at::vec CPU kernels;
                     defaults to the best one this machine's torch reports. zoo.ops
                     refuses a build whose ISA the running CPU lacks.
  TORCH_CUDA_ARCH_LIST, MAX_JOBS, CUDA_HOME are honoured as torch.utils.cpp_extension does.
CUDA is never gated on torch.cuda.is_available(): build machines have no GPU.
"""

import glob
import os
import shutil
import sysconfig
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent.resolve()


def _flag(name):
    return os.environ.get(name, "0") not in ("", "0", "false", "False")


def _find_cuda_home():
    """The toolkit directory: CUDA_HOME, else the nvcc on PATH, else /usr/local/cuda.

    torch's own guess takes dirname(dirname(nvcc)), which is wrong when nvcc on
    PATH is a wrapper script (as on our build machines), so look for the headers.
    """
    if os.environ.get("CUDA_HOME"):
        return os.environ["CUDA_HOME"]
    nvcc = shutil.which("nvcc")
    candidates = [Path(os.path.realpath(nvcc)).parent.parent] if nvcc else []
    candidates.append(Path("/usr/local/cuda"))
    for home in candidates:
        if (home / "include" / "cuda_runtime.h").exists():
            return str(home)
    return None


def _want_cuda():
    if _flag("ZOO_SKIP_CUDA"):
        return False
    return _flag("ZOO_FORCE_CUDA") or _find_cuda_home() is not None


WITH_CUDA = _want_cuda()
if WITH_CUDA and _find_cuda_home():
    # Must be set before torch.utils.cpp_extension is imported: it reads CUDA_HOME once.
    os.environ.setdefault("CUDA_HOME", _find_cuda_home())

from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402


def _cuda_arch_list():
    """TORCH_CUDA_ARCH_LIST, or Hopper (9.0) when no GPU is present to detect archs from."""
    import torch

    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = "9.0"
    return os.environ.get("TORCH_CUDA_ARCH_LIST", "native")


# ISA -> (compiler flags, macros) that make at::vec use that instruction set,
# as PyTorch's own per-ISA kernel builds do.
CPU_ISAS = {
    "avx512": (
        ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c"],
        [("CPU_CAPABILITY", "AVX512"), ("CPU_CAPABILITY_AVX512", None)],
    ),
    "avx2": (["-mavx2", "-mfma", "-mf16c"], [("CPU_CAPABILITY", "AVX2"), ("CPU_CAPABILITY_AVX2", None)]),
    "default": ([], [("CPU_CAPABILITY", "DEFAULT")]),
}


def _cpu_isa():
    import torch

    detected = torch.backends.cpu.get_cpu_capability().lower()
    isa = os.environ.get("ZOO_CPU_ISA", detected if detected in CPU_ISAS else "default")
    if isa not in CPU_ISAS:
        raise SystemExit(f"ZOO_CPU_ISA must be one of {', '.join(CPU_ISAS)}, got {isa!r}")
    return isa


def _extension():
    sources = sorted(glob.glob("csrc/**/*.cpp", recursive=True))
    cuda_sources = sorted(glob.glob("csrc/**/*.cu", recursive=True))
    debug = _flag("ZOO_DEBUG")
    opt = ["-O0", "-g"] if debug else ["-O3"]
    isa = _cpu_isa()
    isa_flags, isa_macros = CPU_ISAS[isa]
    # at::parallel_for is an inline `#pragma omp parallel`: without OpenMP it runs serially.
    cxx = opt + isa_flags + ["-fopenmp", "-fdiagnostics-color=always"]
    sanitize = [f"-fsanitize={os.environ['ZOO_SANITIZE']}", "-fno-omit-frame-pointer"] if os.environ.get("ZOO_SANITIZE") else []
    # pip's nvidia-* wheels ship headers (cublas, cusparse) that torch's CUDA headers include.
    nvidia_include = glob.glob(os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "cu*", "include"))
    kwargs = dict(
        name="zoo._C",
        include_dirs=[str(ROOT / "csrc")] + (nvidia_include if WITH_CUDA else []),
        extra_link_args=["-fopenmp"] + sanitize,
        define_macros=isa_macros + [("ZOO_CPU_ISA", f'"{isa}"')] + ([] if debug else [("NDEBUG", None)]),
    )
    if not WITH_CUDA:
        return CppExtension(sources=sources, extra_compile_args={"cxx": cxx + sanitize}, **kwargs)
    archs = _cuda_arch_list()
    kwargs["define_macros"] += [("ZOO_WITH_CUDA", None), ("ZOO_CUDA_ARCHS", f'"{archs}"')]
    nvcc = opt + ["--expt-relaxed-constexpr", "-lineinfo"]
    return CUDAExtension(sources=sources + cuda_sources, extra_compile_args={"cxx": cxx + sanitize, "nvcc": nvcc}, **kwargs)


setup(
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
