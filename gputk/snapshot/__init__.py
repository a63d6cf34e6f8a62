"""Snapshots, format version 1 (docs/snapshot.md): the facts of one machine, as inert data.

A snapshot is a directory (or a tarball of one directory) with a ``manifest.json``, a
``commands/`` folder of recorded outputs and a ``root/`` tree holding the host's files at their
absolute paths. :class:`SnapshotHost` answers the :class:`gputk.host.Host` calls from it.

A snapshot is untrusted input (docs/security.md). By job:

* :mod:`.manifest` - the format's constants and limits, and the manifest's shape, checked;
* :mod:`.archive` - tarballs, streamed into memory with every size checked before it is read,
  never extracted to disk;
* :mod:`.tree` - the bytes underneath, on disk or in memory, never following a link;
* :mod:`.reader` - :class:`SnapshotHost`, resolving links virtually inside ``root/``;
* :mod:`.writer` - :class:`SnapshotWriter` and :func:`pack`, for ``gputk report`` and the tests.
"""

from __future__ import annotations

from gputk.snapshot.manifest import FORMAT, MANIFEST, ROOT, VERSION
from gputk.snapshot.reader import SnapshotHost, open_snapshot
from gputk.snapshot.writer import SnapshotWriter, pack

__all__ = ["FORMAT", "MANIFEST", "ROOT", "VERSION", "SnapshotHost", "SnapshotWriter", "open_snapshot", "pack"]
