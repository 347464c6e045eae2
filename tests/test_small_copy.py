"""scripts/small_copy.py: the copy of a set that travels to a GPU machine reads as the set does."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

from julia_core.data.dataset import KaggleDataset

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "small_copy.py"
spec = importlib.util.spec_from_file_location("small_copy", SCRIPT)
small_copy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(small_copy)


def test_the_copy_gives_the_best_presets_inputs_pixel_for_pixel(small_demo, tmp_path):
    copy = tmp_path / "copy"
    assert small_copy.small_copy(small_demo, copy, size=48, mode="L") == 62 * 3 + 62
    full, small = KaggleDataset(small_demo), KaggleDataset(copy)
    assert small.labels == full.labels and small.answer_key() == full.answer_key()
    for split in ("train", "test"):
        for source, size in (("original", 48), ("resized", 28)):
            a = full.load(split, source, size, "L", cache_dir=tmp_path / "cache-full")
            b = small.load(split, source, size, "L", cache_dir=tmp_path / "cache-small")
            assert np.array_equal(a.ids, b.ids) and np.array_equal(a.images, b.images), (split, source)


def test_a_set_that_does_not_open_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing"), str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
