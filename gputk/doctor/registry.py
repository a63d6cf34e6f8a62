"""The doctor's checks, in the order they run and print. Ids are public (``--check ID``)."""

from __future__ import annotations

from gputk.doctor import (
    checks_compat,
    checks_cuda,
    checks_driver,
    checks_env,
    checks_health,
    checks_libs,
    checks_platform,
    checks_system,
)
from gputk.doctor.base import Check
from gputk.doctor.checks_frameworks import FRAMEWORK_CHECKS

REGISTRY: tuple[Check, ...] = (
    checks_platform.platform_os,
    checks_platform.platform_wsl,
    checks_platform.platform_container,
    checks_platform.hardware_gpu,
    checks_driver.kernel_module,
    checks_driver.nvml,
    checks_driver.nvidia_smi,
    checks_compat.gpu_support,
    checks_compat.module_flavour,
    checks_system.device_nodes,
    checks_system.nvrm,
    checks_health.xid,
    checks_system.fabric,
    checks_health.memory,
    checks_health.clocks,
    checks_health.compute_mode,
    checks_system.persistence,
    checks_cuda.cuda_toolkit,
    checks_cuda.driver_compat,
    checks_cuda.cuda_arch,
    checks_cuda.cudnn_install,
    checks_env.env_path,
    checks_env.cuda_visible_devices,
    checks_libs.forward_compat,
    checks_libs.cudnn_skew,
    *FRAMEWORK_CHECKS,
)
