"""20 dashboard sessions browsing and monitoring while a run trains: errors, and the training
throughput against the same run with no sessions.

Each session is a Streamlit AppTest (the pages' own code, the shared caches) in its own thread
of one separate process: it opens the dashboard, then every --every seconds (default: the live
pages' interval) reruns the whole Monitor page, which costs more than the fragment a browser
reruns, and every fifth time visits Data, Train or Evaluate instead.

    python bench/load.py [--sessions 20] [--epochs 20]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
REPO = Path(__file__).resolve().parent.parent


def train(data: Path, runs_root: Path, epochs: int, name: str) -> Path:
    from julia_core.runs import launcher
    from julia_core.runs.status import ACTIVE
    from julia_core.training.config import make_config
    run_dir = launcher.launch(make_config("fast", data=str(data), epochs=epochs, name=name), runs_root)
    launcher.wait_for(lambda: launcher.read_run(run_dir).state not in ACTIVE, 3600, 1.0)
    return run_dir.path


def throughput(run_dir: Path) -> float:
    """Mean img/s over the epochs after the first (which pays for warm-up)."""
    with open(run_dir / "summary.csv") as file:
        rates = [float(row["throughput_images_per_second"]) for row in csv.DictReader(file)][1:]
    return sum(rates) / len(rates)


def session(index: int, seconds: float, every: float, errors: list, renders: list) -> None:
    from streamlit.testing.v1 import AppTest
    pages = ["data", "train", "evaluate"]
    try:
        app = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=120).run()
        app.switch_page("pages/monitor.py").run()
        deadline, count = time.monotonic() + seconds, 0
        while time.monotonic() < deadline:
            time.sleep(every)
            count += 1
            if count % 5 == 0:
                app.switch_page(f"pages/{pages[(index + count) % len(pages)]}.py").run()
                app.switch_page("pages/monitor.py")
            app.run()
            if app.exception:
                errors.append(f"session {index}: {app.exception[0].value}")
            renders.append(1)
    except Exception as err:  # noqa: BLE001 - a bench reports, it does not stop
        errors.append(f"session {index}: {type(err).__name__}: {err}")


def run_sessions(count: int, seconds: float, every: float) -> None:
    errors, renders = [], []
    threads = [threading.Thread(target=session, args=(i, seconds, every, errors, renders)) for i in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(0.2)
    for thread in threads:
        thread.join()
    print(f"sessions: {count}, page renders: {len(renders)}, errors: {len(errors)}")
    for error in errors[:10]:
        print("  " + error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--every", type=float, default=None, help="seconds between a session's reruns")
    parser.add_argument("--as-sessions", type=float, default=None, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    from julia_core.views.ui import LIVE_SECONDS
    every = args.every or LIVE_SECONDS
    if args.as_sessions:
        run_sessions(args.sessions, args.as_sessions, every)
        return
    from julia_core.synthetic.demo import generate_demo
    with tempfile.TemporaryDirectory() as folder:
        data = generate_demo(Path(folder) / "demo").root
        runs_root = Path(folder) / "runs"
        os.environ.update(JULIA_DATA=str(data), JULIA_RUNS=str(runs_root), JULIA_STATE=str(Path(folder) / "s.json"))
        quiet = throughput(train(data, runs_root, args.epochs, "alone"))
        print(f"alone: {quiet:.0f} img/s")
        started = time.monotonic()
        from julia_core.runs import launcher
        from julia_core.runs.status import ACTIVE
        from julia_core.training.config import make_config
        run_dir = launcher.launch(make_config("fast", data=str(data), epochs=args.epochs, name="loaded"), runs_root)
        launcher.wait_for(lambda: run_dir.read_status().epoch >= 1, 600, 0.5)
        estimate = (time.monotonic() - started) * args.epochs * 0.9
        load = subprocess.run([sys.executable, __file__, "--sessions", str(args.sessions), "--every", str(every),
                               "--as-sessions", str(estimate)], capture_output=True, text=True)
        print(load.stdout.strip() or load.stderr[-2000:])
        launcher.wait_for(lambda: launcher.read_run(run_dir).state not in ACTIVE, 3600, 1.0)
        loaded = throughput(run_dir)
        print(f"with {args.sessions} sessions rerunning every {every:g} s: {loaded:.0f} img/s, "
              f"{100 * (1 - loaded / quiet):.1f} % lower")


if __name__ == "__main__":
    main()
