"""A folder of .npz files, one per name, valid only for the key it was written with."""
import hashlib
import logging
from pathlib import Path

import numpy as np

from julia_core.files import write_atomic

log = logging.getLogger(__name__)


def digest(*parts) -> str:
    """A stable hex digest of strings and numbers, in order."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(str(part).encode("utf-8", "surrogateescape"))
        sha.update(b"\0")
    return sha.hexdigest()


class ArrayCache:
    """Stores arrays under `<name>.npz` with the key inside; a different key is a miss.

    One file per name means a changed input replaces its old entry instead of piling up."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def load(self, name: str, key: str) -> dict[str, np.ndarray] | None:
        path = self.path(name)
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["cache_key"]) != key:
                    return None
                return {field: stored[field] for field in stored.files if field != "cache_key"}
        except FileNotFoundError:
            return None
        except Exception as err:  # a torn or foreign file is a miss, never an error
            log.warning("ignoring unreadable cache file %s: %s", path, err)
            return None

    def save(self, name: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Write atomically (temporary file, then rename); a cache that cannot be written is skipped."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path(name), lambda file: np.savez(file, cache_key=np.array(key), **arrays))
        except OSError as err:
            log.warning("could not write cache file %s: %s", self.path(name), err)
