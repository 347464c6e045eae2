"""Security: loopback only, XSRF on, no shell, weights-only checkpoints, no home paths shared."""
import re
import shutil
import tomllib

from conftest import REPO_ROOT

from julia_core.runs import launcher
from julia_core.runs import trainer
from julia_core.training.config import make_config


def test_streamlit_binds_loopback_with_xsrf_on():
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert re.search(r"^HOST \?= 127\.0\.0\.1$", (REPO_ROOT / "Makefile").read_text(), re.M)


def test_no_shell_anywhere():
    sources = [p for folder in ("julia_core", "pages", "bench", "scripts") for p in (REPO_ROOT / folder).rglob("*.py")]
    sources.append(REPO_ROOT / "dashboard.py")
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|(?<![.\w])(eval|exec)\(")
    offenders = [f"{p.relative_to(REPO_ROOT)}: {m.group(0)}" for p in sources for m in pattern.finditer(p.read_text())]
    assert not offenders, offenders


def test_no_home_path_in_run_artefacts(small_demo, tmp_path, monkeypatch):
    home = tmp_path / "home" / "alice"
    data = home / "kaggle" / "julia"
    shutil.copytree(small_demo, data)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("JULIA_CACHE", str(home / ".cache" / "julia_core"))  # the synthetic set's log line
    config = make_config("fast", data=str(data), image_size=20, batch_size=32, epochs=1, pretrain=2,
                         pretrain_epochs=1)
    run_dir = launcher.prepare_run(config, tmp_path / "runs")
    assert trainer.run(run_dir, show_progress=False, console=False) == 0
    assert '"data": "~/kaggle/julia"' in (run_dir / "config.json").read_text()
    for path in run_dir.path.rglob("*"):
        if path.is_file() and path.suffix != ".pt":
            assert str(home).encode() not in path.read_bytes(), path.name
    assert launcher.read_run(run_dir).state == "finished"  # and it still reads back
