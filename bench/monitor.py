"""Monitor page speed on a large logdir, beside TensorBoard's own server on the same folder.

50 finished runs, each with 10,000 per-step loss points and 50 epochs of per-epoch scalars.
Measured in one process, through Streamlit's AppTest (the page's own code and caches):
the first render of Monitor (its default selection: running runs and the latest), a refresh,
then all 50 runs selected (first load, then a refresh). The event files of all 50 runs read by
our reader and by tensorboard's EventAccumulator, one after the other (their ratio). Then 200
runs (config and status, as a week of work leaves them): listed, filtered, and Monitor's first
render over them. Then `tensorboard --logdir` on the 50 runs' folder: seconds until its scalars
API lists all 50 runs, and until one run's curve is served.

    python bench/monitor.py [--runs 50] [--points 10000] [--many 200]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
REPO = Path(__file__).resolve().parent.parent


def make_runs(root: Path, count: int, points: int) -> None:
    from torch.utils.tensorboard import SummaryWriter

    from julia_core.runs import store
    from julia_core.runs.status import FINISHED, new_status
    from julia_core.runs.store import RunDir
    from julia_core.training.config import make_config
    for index in range(count):
        # written in place, not by RunDir.create: the folder names are fixed (time_tensorboard asks for one)
        run_dir = RunDir(root / f"20260101-{index:06d}-bench")
        (run_dir / RunDir.CHECKPOINTS).mkdir(parents=True)
        config = make_config("fast", data="/nonexistent", lr=1e-3 * (1 + index % 5), seed=index)
        store.write_json(run_dir.config_file, config.to_dict())
        status = new_status(FINISHED, 50, epoch=50, step=points, total_steps=points,
                            steps_per_epoch=points // 50, best_val_acc=0.8 + index / 1000, val_acc=0.8,
                            started="2026-01-01T00:00:00+00:00")
        store.write_json(run_dir.status_file, status.to_dict())
        writer = SummaryWriter(str(run_dir), max_queue=1000)
        for step in range(points):
            writer.add_scalar("train/loss_step", 4.0 / (1 + step / 500) + (step % 7) * 0.01, step)
        for epoch in range(1, 51):
            for tag in ("train/loss", "val/loss", "train/acc", "val/acc", "lr"):
                writer.add_scalar(tag, 1.0 / epoch, epoch)
        writer.close()


def time_monitor(runs_root: Path, data: Path, count: int) -> dict:
    from streamlit.testing.v1 import AppTest
    os.environ.update(JULIA_RUNS=str(runs_root), JULIA_DATA=str(data), JULIA_STATE=str(runs_root / "state.json"))
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=600).run()  # the Data page, imports
    results = {}

    def timed(label, action):
        started = time.perf_counter()
        action()
        results[label] = time.perf_counter() - started
        assert not app.exception, app.exception
        print(f"{label}: {results[label]:.3f} s", file=sys.stderr)

    timed("first render (default selection)", lambda: app.switch_page("pages/monitor.py").run())
    timed("refresh (default selection)", lambda: app.run())
    runs_box = next(box for box in app.multiselect if box.label == "Runs")
    everything = runs_box.options
    timed(f"select all {count} runs (first load of their events)", lambda: runs_box.set_value(everything).run())
    timed(f"refresh ({count} runs selected)", lambda: app.run())
    return results


def time_readers(runs_root: Path) -> dict:
    """Every run's event files read cold by our reader, then by tensorboard's accumulator."""
    from julia_core.runs.event_reader import EventReader
    from julia_core.runs.events import open_events
    folders = sorted(path for path in runs_root.iterdir() if path.is_dir())
    results = {}
    for label, read in (("our event reader", lambda f: EventReader(f).reload()),
                        ("tensorboard's EventAccumulator", lambda f: open_events(f).Reload())):
        started = time.perf_counter()
        for folder in folders:
            read(folder)
        results[f"{label}, {len(folders)} runs"] = time.perf_counter() - started
    return results


def time_many(root: Path, data: Path, count: int) -> dict:
    """`count` runs without curves: the listing, a filter over it, and Monitor's first render."""
    from streamlit.testing.v1 import AppTest

    from julia_core.runs import filters, launcher, records, store
    from julia_core.runs.status import FINISHED, new_status
    from julia_core.runs.store import RunDir
    from julia_core.training.config import make_config
    for index in range(count):
        run_dir = RunDir(root / f"20260102-{index:06d}-many")
        (run_dir / RunDir.CHECKPOINTS).mkdir(parents=True)
        config = make_config("fast", data="/nonexistent", lr=1e-3 * (1 + index % 5), seed=index,
                             model=("charnet", "charnet_wide", "charnet_deep")[index % 3])
        store.write_json(run_dir.config_file, config.to_dict())
        store.write_json(run_dir.status_file, new_status(FINISHED, 50, epoch=50, best_val_acc=0.7 + index / 1000).to_dict())
        if index % 4 == 0:
            records.tag(run_dir, add=["good"])
    results = {}
    started = time.perf_counter()
    runs = launcher.list_runs(root)
    results[f"{count} runs listed"] = time.perf_counter() - started
    started = time.perf_counter()
    chosen = filters.select(runs, filters.RunFilter(tags=("good",), models=("charnet_wide",), min_acc=0.75))
    results[f"{count} runs filtered (tag, model, accuracy range: {len(chosen)} pass)"] = time.perf_counter() - started
    os.environ.update(JULIA_RUNS=str(root), JULIA_DATA=str(data), JULIA_STATE=str(root / "state.json"))
    app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=600).run()
    from julia_core.views.ui import forget_runs
    forget_runs()  # the Data page just listed the runs: Monitor's render must list them itself
    started = time.perf_counter()
    app.switch_page("pages/monitor.py").run()
    results[f"Monitor's first render over {count} runs"] = time.perf_counter() - started
    box = next(box for box in app.multiselect if box.label == "Tags (all of them)")
    forget_runs()
    started = time.perf_counter()
    box.set_value(["good"]).run()
    results[f"Monitor filtered by a tag ({count} runs)"] = time.perf_counter() - started
    assert not app.exception, app.exception
    return results


def time_tensorboard(runs_root: Path, count: int) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs_root), "--port", str(port),
                               "--host", "127.0.0.1", "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    try:
        base = f"http://127.0.0.1:{port}/data/plugin/scalars"
        run = f"20260101-{count - 1:06d}-bench"
        while time.perf_counter() - started < 600:
            try:
                tags = json.loads(urllib.request.urlopen(f"{base}/tags", timeout=5).read())
                if "all runs listed" not in results and len(tags) >= count:
                    results["all runs listed"] = time.perf_counter() - started
                if "all runs listed" in results:
                    t0 = time.perf_counter()
                    data = json.loads(urllib.request.urlopen(f"{base}/scalars?run={run}&tag=train/loss_step", timeout=30).read())
                    results["one run's curve served"] = time.perf_counter() - started
                    results["curve request"] = time.perf_counter() - t0
                    results["points served"] = len(data)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--many", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "runs"
        started = time.perf_counter()
        make_runs(root, args.runs, args.points)
        print(f"wrote {args.runs} runs x {args.points} points in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        from julia_core.synthetic.demo import Drawing, generate_demo
        data = generate_demo(Path(folder) / "demo", 1, 1, drawing=Drawing(workers=2)).root
        ours = time_monitor(root, data, args.runs)
        ours.update(time_readers(root))
        theirs = time_tensorboard(root, args.runs)
        ours.update(time_many(Path(folder) / "many", data, args.many))
    print(f"| Monitor page ({args.runs} runs x {args.points:,} points) | seconds |\n|---|---|")
    for label, seconds in ours.items():
        print(f"| {label} | {seconds:.3f} |")
    print("\n| tensorboard --logdir, same folder | |\n|---|---|")
    for label, value in theirs.items():
        print(f"| {label} | {value if isinstance(value, int) else f'{value:.2f} s'} |")


if __name__ == "__main__":
    main()
