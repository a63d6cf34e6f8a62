"""gputk's compatibility knowledge: one API over the data files in ``gputk/compat/data``.

- :mod:`~gputk.compat.version`: the one version type (:class:`Version`);
- :mod:`~gputk.compat.cuda`: minimum driver per CUDA release (toolkit-bundled and
  minor-version-compatibility floors, Linux and Windows), the newest CUDA a driver runs,
  which compute capabilities each toolkit can target;
- :mod:`~gputk.compat.gpus`: PCI device id / product name -> compute capability and
  architecture, and each architecture's compute-capability range;
- :mod:`~gputk.compat.drivers`: finding the driver version from the evidence at hand,
  driver branches, the drivers a GPU generation can run, open vs proprietary module;
- :mod:`~gputk.compat.frameworks`: what TensorFlow, PyTorch, JAX, CuPy and numba-cuda
  builds were made with, whether they fit, and what to pin.

Every row of the data cites its source; each file says where to refresh it from
(see docs/compat.md). This package reads only its own data: no I/O on the machine.
"""

from gputk.compat.cuda import can_target, min_driver, mvc_floor, newest_cuda, runtime_vs_driver
from gputk.compat.drivers import DriverVersion, driver_limit, find_driver_version, module_fits
from gputk.compat.frameworks import arch_covers, cuda_flavour, install_spec, pick_torch_wheel, pin_for
from gputk.compat.gpus import arch_name, by_name, by_pci_id, generation, lookup
from gputk.compat.version import Version, parse_version, release_of

__all__ = [
    "DriverVersion",
    "Version",
    "arch_covers",
    "arch_name",
    "by_name",
    "by_pci_id",
    "can_target",
    "cuda_flavour",
    "driver_limit",
    "find_driver_version",
    "generation",
    "install_spec",
    "lookup",
    "min_driver",
    "module_fits",
    "mvc_floor",
    "newest_cuda",
    "parse_version",
    "pick_torch_wheel",
    "pin_for",
    "release_of",
    "runtime_vs_driver",
]
