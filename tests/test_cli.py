import pytest
from conftest import make_set, run_cli, run_cli_process

from julia_core.cli import main


def test_help_lists_the_subcommands():
    result = run_cli_process("--help")  # `python -m julia_core` itself, as a user runs it
    assert result.returncode == 0
    for command in ("demo", "info", "resize", "train", "runs", "stop", "predict", "score", "audit"):
        assert command in result.stdout


def test_bad_input_in_a_real_process_is_one_line_and_exit_2(tmp_path):
    result = run_cli_process("train", "--data", tmp_path / "missing", "--runs", tmp_path / "runs")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "missing" in result.stderr


def test_info_on_a_demo_set(small_demo, capsys):
    assert main(["info", "--data", str(small_demo)]) == 0
    out = capsys.readouterr().out
    assert "train images:  186 labelled" in out and "test images:   62" in out
    assert "classes:       62 of 62" in out
    assert "train/" in out and "formats PNG" in out and "trainResized/  186 images, all 20x20" in out


def test_info_reports_ignored_files(tmp_path, capsys):
    root = make_set(tmp_path / "set")
    (root / "train" / "Thumbs.db").write_bytes(b"x")
    assert main(["info", "--data", str(root)]) == 0
    assert "ignored 1 entries not named <ID>.<bmp|png|jpg>: Thumbs.db" in capsys.readouterr().out


@pytest.mark.parametrize("breakage,message", [
    (lambda root: (root / "trainLabels.csv").unlink(), "trainLabels.csv: file not found"),
    (lambda root: (root / "trainLabels.csv").write_text("ID,Class\n1,a\n2,zero\n"), "unknown class 'zero' for ID 2"),
    (lambda root: (root / "train/2.Bmp").unlink(), "train: no image for ID 2"),
    (lambda root: (root / "test/101.Bmp").write_bytes(b""), "test/101.Bmp: file is empty"),
    (lambda root: (root / "test/101.Bmp").write_bytes((root / "test/101.Bmp").read_bytes()[:60]),
     "test/101.Bmp: cannot decode image"),
])
def test_info_on_bad_data_exits_2_with_one_line(tmp_path, breakage, message):
    root = make_set(tmp_path / "set")
    breakage(root)
    result = run_cli("info", "--data", root)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr and "Traceback" not in result.stderr


def test_info_quick_skips_the_decode(tmp_path, capsys):
    root = make_set(tmp_path / "set")
    (root / "test/101.Bmp").write_bytes((root / "test/101.Bmp").read_bytes()[:60])
    assert main(["info", "--data", str(root), "--quick"]) == 0


@pytest.mark.parametrize("args,message", [
    (["info", "--data", "/no/such/place"], "/no/such/place: no such folder"),
    (["info", "--data", "Makefile"], "Makefile: is not a folder"),
    (["resize", "--size", "x"], "argument --size: invalid int value: 'x'"),
    (["resize", "--mode", "cmyk"], "argument --mode: invalid choice"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_usage_errors_are_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_resize_fills_the_cache_then_exports(tmp_path, capsys, isolated_cache):
    root = make_set(tmp_path / "set")
    assert main(["resize", "--data", str(root), "--size", "32", "--mode", "rgb"]) == 0
    assert "train: 6 images as (6, 32, 32, 3)" in capsys.readouterr().out
    assert len(list(isolated_cache.glob("*.npz"))) == 2
    out = tmp_path / "exported"
    assert main(["resize", "--data", str(root), "--size", "48", "--export", "--out", str(out),
                 "--source", "original", "--keep-aspect", "--split", "test"]) == 0
    assert sorted(p.name for p in (out / "testResized_48_from_original_pad").iterdir()) == ["101.Bmp", "102.Bmp"]


def test_resize_skip_bad_lists_what_it_left_out(tmp_path, capsys):
    root = make_set(tmp_path / "set")
    (root / "trainResized/2.Bmp").write_bytes(b"")
    assert main(["resize", "--data", str(root), "--split", "train"]) == 2
    assert main(["resize", "--data", str(root), "--split", "train", "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "train: 5 images" in out and "skipped 1 images" in out and "2.Bmp: file is empty" in out


def test_resize_bad_size_is_one_line(tmp_path):
    result = run_cli("resize", "--data", make_set(tmp_path / "set"), "--size", "3")
    assert result.returncode == 2 and "image size must be between 4 and 512 px, got 3" in result.stderr


def test_unwritable_export_is_one_line(tmp_path):
    root = make_set(tmp_path / "set")
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = run_cli("resize", "--data", root, "--export", "--out", tmp_path / "blocker")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "blocker" in result.stderr


def test_demo_command(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--train-per-class", "1", "--test-per-class", "1")
    assert result.returncode == 0, result.stderr
    assert "wrote 62 train and 62 test images" in result.stdout
    again = run_cli("demo", "--out", out, "--train-per-class", "1")
    assert again.returncode == 2 and "folder exists and is not empty (use --force" in again.stderr
    skipped = run_cli("demo", "--out", out, "--if-missing")
    assert skipped.returncode == 0 and "already at" in skipped.stdout
