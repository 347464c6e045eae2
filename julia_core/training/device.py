"""Where a model runs and in which precision: the device choice and the bf16 decision."""
import os
from functools import lru_cache

import torch

from julia_core.training.config import ConfigError


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' takes CUDA, then MPS, then the CPU; asking for one that is absent is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise ConfigError("device 'cuda' was asked for, but this machine has no usable CUDA GPU "
                          "(use --device auto or cpu)")
    if name == "mps" and not mps:
        raise ConfigError("device 'mps' was asked for, but Apple's MPS is not available here")
    if name == "cuda" and local_rank >= torch.cuda.device_count():
        raise ConfigError(f"DDP process {local_rank} wants CUDA GPU {local_rank}, but this machine shows "
                          f"{torch.cuda.device_count()} (use fewer --gpus)")
    return torch.device(f"cuda:{local_rank}" if name == "cuda" else name)


def check_gpu_count(name: str, gpus: int) -> None:
    """DDP over more CUDA GPUs than the machine shows would fail in NCCL at a worker's start (two
    ranks may not share a GPU): refuse it in one line before any worker starts."""
    if select_device(name).type == "cuda" and gpus > torch.cuda.device_count():
        raise ConfigError(_more_gpus_than_here(gpus))


def _more_gpus_than_here(gpus: int) -> str:
    count = torch.cuda.device_count()
    return (f"gpus {gpus} asked for, but this machine shows {count} CUDA GPU{'' if count == 1 else 's'} "
            f"(use --gpus {count} or fewer, or --device cpu)")


def cpu_threads(sharers: int) -> int:
    """Threads for one of `sharers` processes training on the CPU at once (DDP's gloo ranks times
    the runs allowed at once): four runs of 2 threads each on 2 cores trained about 0.15x as fast
    in all as one alone, and 1.16x with one thread each (docs/BENCHMARKS.md, runs at once)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, sharers))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return "Apple MPS" if device.type == "mps" else f"CPU ({os.cpu_count()} cores)"


def machine_summary() -> str:
    """Every CUDA device with its memory, else the CPU: what the dashboard's sidebar shows."""
    if torch.cuda.is_available():
        return "CUDA: " + ", ".join(device_name(torch.device(f"cuda:{i}")) for i in range(torch.cuda.device_count()))
    return f"CPU only ({os.cpu_count()} cores)"


def autocast(device: torch.device, amp: bool):
    """bf16 autocast when asked and the device computes bf16 natively; a no-op elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=computes_in_bf16(device, amp))


def computes_in_bf16(device: torch.device, amp: bool) -> bool:
    """Whether `autocast(device, amp)` runs in bf16 (else float32)."""
    return amp and bf16_native(device)


def bf16_native(device: torch.device) -> bool:
    """CUDA, or a CPU with AVX512-BF16 or AMX: there bf16 trains charnet at batch 128 about twice
    as fast as float32 (docs/BENCHMARKS.md). Other CPUs emulate bf16, slower than float32."""
    return device.type == "cuda" or (device.type == "cpu" and _cpu_has_bf16())


@lru_cache(maxsize=1)
def _cpu_has_bf16() -> bool:
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)
