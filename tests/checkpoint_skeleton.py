"""A checkpoint as a skeleton: every key, nesting, shape, dtype and plain value of a torch checkpoint,
without its weights, small enough to keep in the repository as JSON; and the checkpoint rebuilt
from it with seeded numbers in place of the trained ones.

The fixture run written by the previous version keeps its checkpoints this way: what a newer
version must still read is their layout (the keys, the optimizer's and scheduler's state, the
progress fields), not the values of ten megabytes of weights.

    python tests/checkpoint_skeleton.py RUN_DIR   # writes RUN_DIR/checkpoints.json from its *.pt
"""
import json
import sys
from pathlib import Path

import torch

EXACT = 4  # tensors of at most this many elements keep their values (counters, scalars)


def skeleton(value):
    if isinstance(value, torch.Tensor):
        node = {"tensor": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}
        if value.numel() <= EXACT:
            node["values"] = value.flatten().tolist()
        return node
    if isinstance(value, dict):
        return {"dict": [[key, skeleton(item)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [skeleton(item) for item in value]}
    return {"value": value}


def rebuild(node, generator: torch.Generator, name: str = ""):
    if "tensor" in node:
        dtype = getattr(torch, node["dtype"])
        if "values" in node:
            return torch.tensor(node["values"], dtype=dtype).reshape(node["tensor"])
        if not dtype.is_floating_point:
            return torch.zeros(node["tensor"], dtype=dtype)
        if name.endswith("running_var"):  # a variance: positive
            return 0.5 + torch.rand(node["tensor"], generator=generator).to(dtype)
        return (0.05 * torch.randn(node["tensor"], generator=generator)).to(dtype)
    if "dict" in node:
        return {key: rebuild(item, generator, str(key)) for key, item in node["dict"]}
    if "list" in node:
        return [rebuild(item, generator, name) for item in node["list"]]
    if "tuple" in node:
        return tuple(rebuild(item, generator, name) for item in node["tuple"])
    return node["value"]


def write_checkpoints(skeletons: Path, folder: Path, seed: int = 0) -> None:
    """Each checkpoint of the skeleton file, rebuilt into `folder` (seeded: the same bytes each time)."""
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, node in json.loads(skeletons.read_text()).items():
        torch.save(rebuild(node, torch.Generator().manual_seed(seed)), folder / file_name)


if __name__ == "__main__":
    run_dir = Path(sys.argv[1])
    found = {path.name: skeleton(torch.load(path, weights_only=True))
             for path in sorted((run_dir / "checkpoints").glob("*.pt"))}
    (run_dir / "checkpoints.json").write_text(json.dumps(found, indent=None, separators=(",", ":")) + "\n")
