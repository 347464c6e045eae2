"""A stratified, seeded train/validation split: every class keeps its share on both sides."""
import numpy as np

from julia_core.errors import DataError


def stratified_split(labels, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val), each sorted. A class with at least two images keeps one on each side."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"validation fraction must be at least 0 and below 1, got {val_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = int(round(len(members) * val_fraction))
        if val_fraction > 0 and len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        val.extend(members[:count].tolist())
    is_val = np.zeros(len(labels), dtype=bool)
    is_val[val] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def stratified_folds(labels, folds: int, seed: int = 0) -> np.ndarray:
    """A fold number 0..folds-1 for every image, each class dealt round-robin over the folds."""
    if folds < 2:
        raise DataError(f"cross-validation needs at least 2 folds, got {folds}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # rare classes do not all start in fold 0
    return assignment


def fold_split(labels, folds: int, fold: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with fold `fold` held out."""
    if not 0 <= fold < folds:
        raise DataError(f"fold must be in 0..{folds - 1}, got {fold}")
    assignment = stratified_folds(labels, folds, seed)
    return np.flatnonzero(assignment != fold), np.flatnonzero(assignment == fold)


def split_seed(config) -> int:
    """The seed that draws a config's validation images: its own, unless split_seed is set."""
    return config.split_seed if config.split_seed >= 0 else config.seed


def run_split(labels, config) -> tuple[np.ndarray, np.ndarray]:
    """The (train, val) indices a training config uses: its fold, or its seeded 4:1-style split."""
    if config.folds:
        return fold_split(labels, config.folds, config.fold, split_seed(config))
    return stratified_split(labels, config.val_fraction, split_seed(config))


def split_key(config) -> tuple:
    """What decides a config's validation images: runs with equal keys validate on the same ones."""
    seed = split_seed(config)
    return (config.folds, config.fold, seed) if config.folds else (config.val_fraction, seed)


def same_split(a, b) -> bool:
    """One split: the same validation images, or folds of the same k-fold assignment."""
    if a.folds and b.folds:
        return (a.folds, split_seed(a)) == (b.folds, split_seed(b))
    return split_key(a) == split_key(b)
