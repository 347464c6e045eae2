"""The trainer's own CPU, memory and GPU figures, logged every few seconds as TensorBoard scalars
under system/ (Monitor's "System" charts, TensorBoard's too).

    system/cpu_percent              this process, 100 = one core busy
    system/memory_mb                its resident memory
    system/gpu_util_percent         on CUDA, through NVML (nvidia-ml-py) where it answers
    system/gpu_memory_used_mb       on CUDA: the device's memory in use (NVML, else torch's mem_get_info)
    system/gpu_memory_total_mb
    system/gpu_peak_allocated_mb    on CUDA: the most this process's tensors held (torch)

No GPU, no NVML, or a reading that fails is not an error: those figures are left out. Under DDP
rank 0 logs, so the figures are its process's and its GPU's.
"""
import logging
import os
import time

import psutil
import torch

log = logging.getLogger("julia_core.trainer")
PREFIX = "system/"  # every figure's tag starts so: Monitor's System charts gather them by it
SYSTEM_SECONDS = 5.0  # JULIA_SYSTEM_SECONDS overrides (tests log every step with 0)
MB = 2 ** 20


class SystemMetrics:
    def __init__(self, device: torch.device, every: float | None = None):
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # the first reading measures from here
        self.device = device
        self.every = every_seconds() if every is None else every
        self.cuda = device.type == "cuda"
        self.nvml = nvml_handle(device) if self.cuda else None
        self.last = time.monotonic()
        self.failed: set[str] = set()

    def due(self) -> bool:
        if time.monotonic() - self.last < self.every:
            return False
        self.last = time.monotonic()
        return True

    def sample(self) -> dict[str, float]:
        """The figures that could be read now; a reading that fails is left out (logged once)."""
        figures = {}
        try:
            figures.update({PREFIX + "cpu_percent": self.process.cpu_percent(None),
                            PREFIX + "memory_mb": self.process.memory_info().rss / MB})
        except (psutil.Error, OSError) as err:
            self._failed("process figures", err)
        if self.cuda:
            try:
                figures.update(self._gpu())
            except Exception as err:  # a driver in trouble must not end the training
                self._failed("GPU figures", err)
        return figures

    def _failed(self, what: str, err: BaseException) -> None:
        if what not in self.failed:
            self.failed.add(what)
            log.warning("system metrics: %s could not be read (%s); left out", what, err)

    def _gpu(self) -> dict[str, float]:
        figures = {PREFIX + "gpu_peak_allocated_mb": torch.cuda.max_memory_allocated(self.device) / MB}
        if self.nvml is not None:
            try:
                import pynvml
                memory = pynvml.nvmlDeviceGetMemoryInfo(self.nvml)
                figures.update({PREFIX + "gpu_util_percent": float(pynvml.nvmlDeviceGetUtilizationRates(self.nvml).gpu),
                                PREFIX + "gpu_memory_used_mb": memory.used / MB,
                                PREFIX + "gpu_memory_total_mb": memory.total / MB})
                return figures
            except Exception as err:  # a driver that stops answering: torch's figures from now on
                log.info("NVML stopped answering (%s); GPU memory from torch from now on", err)
                self.nvml = None
        free, total = torch.cuda.mem_get_info(self.device)
        figures.update({PREFIX + "gpu_memory_used_mb": (total - free) / MB, PREFIX + "gpu_memory_total_mb": total / MB})
        return figures


def every_seconds() -> float:
    text = os.environ.get("JULIA_SYSTEM_SECONDS", "")
    try:
        return float(text) if text else SYSTEM_SECONDS
    except ValueError:
        log.warning("JULIA_SYSTEM_SECONDS=%r is not a number of seconds; system figures every %g s", text,
                    SYSTEM_SECONDS)
        return SYSTEM_SECONDS


def nvml_handle(device: torch.device):
    """NVML's handle of the GPU torch calls `device`, found by its UUID (NVML numbers the
    machine's GPUs, torch only the visible ones); None where NVML is missing or does not answer."""
    try:
        import pynvml
        pynvml.nvmlInit()
        uuid = str(torch.cuda.get_device_properties(device).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
    except Exception as err:  # not installed, no driver library, an old driver: torch's figures
        log.info("no GPU utilisation figures (NVML: %s); GPU memory from torch", err)
        return None
