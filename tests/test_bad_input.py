"""The bad-input catalogue: each case with the message it must give, in the CLI (exit 2, one
line on stderr, no traceback) and in the dashboard (st.error, the page keeps working)."""
import numpy as np
import pytest
from conftest import make_set, open_page, run_cli, write_image
from PIL import Image

from julia_core.data.dataset import KaggleDataset
from julia_core.data.images import MAX_PIXELS


def csv(text: bytes):
    return lambda root: (root / "trainLabels.csv").write_bytes(text)


def bomb(root):
    side = int(MAX_PIXELS ** 0.5) + 100  # a few kB of PNG that would decode to over 40 M pixels
    Image.new("L", (side, side)).save(root / "trainResized" / "1.Bmp", format="PNG")


def truncate(root):
    path = root / "train" / "2.Bmp"
    path.write_bytes(path.read_bytes()[:50])


DATA_CASES = [
    # (id, how to break a good set, the message)
    ("missing-csv", lambda r: (r / "trainLabels.csv").unlink(), "trainLabels.csv: file not found"),
    ("empty-csv", csv(b""), "trainLabels.csv: file is empty (expected the header 'ID,Class')"),
    ("header-only", csv(b"ID,Class\r\n"), "trainLabels.csv: has a header but no rows"),
    ("wrong-header", csv(b"Id,Label\n1,a\n"), "line 1: header must be 'ID,Class', found 'Id,Label'"),
    ("semicolons", csv(b"ID;Class\n1;a\n"), "fields look separated by semicolons, expected commas"),
    ("tabs", csv(b"ID\tClass\n1\ta\n"), "fields look separated by tabs"),
    ("not-utf8", csv(b"ID,Class\n1,\xff\n"), "trainLabels.csv: not UTF-8 text (byte 0xff at offset 11)"),
    ("unknown-class", csv(b"ID,Class\n1,a\n2,#\n"), "line 3: unknown class '#' for ID 2"),
    ("class-as-word", csv(b"ID,Class\n1,zero\n"), "line 2: unknown class 'zero' for ID 1"),
    ("duplicate-id", csv(b"ID,Class\n1,a\n2,B\n1,a\n"), "line 4: duplicate ID 1 (first on line 2)"),
    ("non-numeric-id", csv(b"ID,Class\n1,a\nabc,B\n"), "line 3: ID 'abc' is not a whole number"),
    ("extra-field", csv(b"ID,Class\n1,a,x\n"), "line 2: expected 2 fields 'ID,Class', found 3"),
    ("image-missing", lambda r: (r / "trainResized" / "3.Bmp").unlink(),
     "trainResized: no image for ID 3 listed in trainLabels.csv"),
    ("zero-bytes", lambda r: (r / "train" / "4.Bmp").write_bytes(b""), "train/4.Bmp: file is empty (0 bytes)"),
    ("truncated", truncate, "train/2.Bmp: cannot decode image"),
    ("not-an-image", lambda r: (r / "testResized" / "101.Bmp").write_text("<html>"),
     "testResized/101.Bmp: not an image (Pillow cannot identify its content)"),
    ("decompression-bomb", bomb, "trainResized/1.Bmp: image is"),
    ("empty-folder", lambda r: [p.unlink() for p in (r / "test").iterdir()], "test: folder holds no images"),
    ("two-files-one-id", lambda r: write_image(r / "train" / "5.png", fmt="PNG"), "two images for ID 5: 5.Bmp and 5.png"),
]


@pytest.fixture
def broken(tmp_path, request):
    root = make_set(tmp_path / "set")
    request.param[1](root)
    return root, request.param[2]


def test_the_catalogue_has_at_least_25_cases():
    assert len(DATA_CASES) + len(PATH_CASES) + len(OPTION_CASES) >= 25


@pytest.mark.parametrize("broken", DATA_CASES, ids=[c[0] for c in DATA_CASES], indirect=True)
def test_cli(broken):
    root, message = broken
    result = run_cli("info", "--data", root, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("broken", DATA_CASES, ids=[c[0] for c in DATA_CASES], indirect=True)
def test_dashboard(broken, monkeypatch, tmp_path):
    root, message = broken
    monkeypatch.setenv("JULIA_DATA", str(root))
    monkeypatch.setenv("JULIA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page()
    assert any(message in error.value for error in app.error), [e.value for e in app.error]
    app.switch_page("pages/train.py").run()  # the rest of the dashboard keeps working
    assert not app.exception and [t.value for t in app.title] == ["Train"]


PATH_CASES = [
    ("does-not-exist", lambda tmp: tmp / "nowhere", "nowhere: no such folder"),
    ("is-a-file", lambda tmp: (tmp / "file.txt", (tmp / "file.txt").write_text("x"))[0], "file.txt: is not a folder"),
]


@pytest.mark.parametrize("case", PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_paths_in_cli_and_dashboard(case, tmp_path, monkeypatch):
    path, message = case[1](tmp_path), case[2]
    result = run_cli("info", "--data", path, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    monkeypatch.setenv("JULIA_DATA", str(path))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page()
    assert message in app.error[0].value


OPTION_CASES = [
    # (id, CLI options, the message); the dashboard's form widgets bound the numbers and list
    # the models, so there only the free-text run name can be wrong.
    ("negative-epochs", ["--epochs", "-1"], "epochs must be between 1 and 10000, got -1"),
    ("batch-size-0", ["--batch-size", "0"], "batch size must be between 1 and 65536, got 0"),
    ("image-size-3", ["--image-size", "3"], "image size must be between 8 and 256 px, got 3"),
    ("unknown-model", ["--model", "resnet999"], "unknown model 'resnet999'"),
    ("zero-lr", ["--lr", "0"], "learning rate must be above 0 and at most 10, got 0.0"),
    ("val-fraction-1", ["--val-fraction", "1"], "validation fraction must be above 0 and below 1, got 1.0"),
    ("epochs-not-a-number", ["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    ("name-dotdot", ["--name", "../../etc"], "run name '../../etc' may hold only letters"),
    ("name-slash", ["--name", "a/b"], "run name 'a/b' may hold only letters"),
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_training_options_in_cli(case, small_demo, tmp_path):
    result = run_cli("train", "--data", small_demo, "--runs", tmp_path / "runs", *case[1], timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert case[2] in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing written


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "x" * 65])
def test_run_names_in_the_dashboard(name, small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page("train")
    app.text_input(key="fast-name").set_value(name)
    app.button[0].click().run()
    assert not app.exception and "may hold only letters" in app.error[0].value
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert not (tmp_path / "escape").exists()


def test_odd_but_valid_inputs_load(tmp_path):
    """Palette with transparency, 1-bit, 16-bit grey, CMYK, float TIFF, lower-case extensions,
    and a CSV with a BOM, LF line ends and blank lines."""
    root = tmp_path / "odd"
    (root / "trainResized").mkdir(parents=True)
    (root / "trainLabels.csv").write_bytes(b"\xef\xbb\xbfID,Class\n1,a\n\n2,B\n3,c\n4,D\n5,e\n6,7\n\n\n")
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.info["transparency"] = 0
    palette.save(root / "trainResized" / "1.png")
    Image.new("1", (20, 20), 1).save(root / "trainResized" / "2.bmp")
    Image.fromarray(np.linspace(0, 65535, 400).reshape(20, 20).astype(np.uint16)).save(root / "trainResized" / "3.png")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(root / "trainResized" / "4.jpg")
    Image.fromarray(np.linspace(0, 1, 400, dtype=np.float32).reshape(20, 20), "F").save(
        root / "trainResized" / "5.bmp", format="TIFF")  # a float TIFF behind a .bmp name
    Image.new("RGB", (20, 20), "green").save(root / "trainResized" / "6.jpeg")
    dataset = KaggleDataset(root)
    assert dataset.train_ids == [1, 2, 3, 4, 5, 6]
    grey = dataset.load(size=28, mode="L")
    rgb = dataset.load(size=28, mode="RGB")
    assert grey.images.shape == (6, 28, 28) and rgb.images.shape == (6, 28, 28, 3)
    assert grey.images[2].max() > 200 and grey.images[2].min() < 50    # 16-bit scaled, not clipped
    assert grey.images[4].max() > 200                                   # float 0..1 scaled
    assert rgb.images[3][14, 14, 0] > 200 and rgb.images[3][14, 14, 1] < 60   # CMYK red
