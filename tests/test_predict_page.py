"""The Predict page and its core: any image through a run or an ensemble, as the model sees it,
its top-5 and a Grad-CAM heat map; bad uploads are one line each and the page goes on."""
import io
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import open_page
from julia_core.data.dataset import KaggleDataset
from julia_core.data.images import open_bytes
from julia_core.errors import DataError
from julia_core.predict.ensemble import load_run_model
from julia_core.predict.explain import as_model_sees, explain, image_for_id


def png(size=(90, 60), colour=(200, 30, 30), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, size, colour if mode == "RGB" else 128)
    image.paste((255, 255, 255) if mode == "RGB" else 255, (30, 15, 60, 45))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bomb(side: int) -> bytes:
    """A PNG whose header claims side x side pixels: refused before decoding."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def model(demo_run):
    return load_run_model(demo_run[1], torch.device("cpu"))


def test_an_image_is_seen_at_the_runs_size_and_mode(model):
    _, config = model
    seen = as_model_sees(open_bytes(png(), "sign.png"), config)
    assert seen.shape == (config.image_size, config.image_size) + (() if config.mode == "L" else (3,))
    assert seen.dtype == np.uint8


def test_explain_gives_top_five_and_a_heat_map_that_follows_the_class(model):
    image = open_bytes(png(), "sign.png")
    found = explain([model], image)
    names = [name for name, _ in found.top]
    assert len(names) == 5 and len(set(names)) == 5
    assert found.top[0][1] == pytest.approx(found.probs.max()) and found.probs.sum() == pytest.approx(1, abs=1e-4)
    assert [p for _, p in found.top] == sorted((p for _, p in found.top), reverse=True)
    size = model[1].image_size
    assert found.heat.shape == (size, size) and 0 <= found.heat.min() and found.heat.max() <= 1
    ensemble = explain([model, model], image)  # the same member twice: the same answer
    assert np.allclose(ensemble.probs, found.probs, atol=1e-6) and np.allclose(ensemble.heat, found.heat, atol=1e-5)
    weights = {k: v.clone() for k, v in model[0].state_dict().items()}
    explain([model], image)
    assert all(torch.equal(weights[k], v) for k, v in model[0].state_dict().items())  # gradients leave weights alone
    assert all(p.grad is None for p in model[0].parameters())


def test_an_image_by_id_comes_with_its_label(model, small_demo):
    dataset = KaggleDataset(small_demo)
    image_id = dataset.train_ids[0]
    image, caption = image_for_id(dataset, image_id, model[1])
    assert caption == f"train ID {image_id}: {dataset.labels[image_id]}" and image.size[0] > 0
    with pytest.raises(DataError, match="ID 999999 is neither a labelled train image nor a test image"):
        image_for_id(dataset, 999999, model[1])


@pytest.mark.parametrize("data,message", [
    (b"", "empty.png: file is empty (0 bytes)"),
    (b"this is not an image at all", "notes.png: not an image"),
    (png()[:60], "cut.png: cannot decode image"),
    (bomb(7000), "bomb.png: image is 7000x7000, more than the 40,000,000 pixels allowed"),
    (bomb(20000), "huge.png: refused as a decompression bomb"),  # Pillow's own limit, met first
], ids=["empty", "not an image", "truncated", "49 M pixels", "400 M pixels"])
def test_bad_uploads_are_one_line(data, message):
    name = message.split(":")[0]
    with pytest.raises(DataError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        open_bytes(data, name)


def test_page_explains_uploads_and_keeps_going_past_bad_ones(app_env):
    app = open_page("predict")
    assert next(r for r in app.radio if r.label == "Image").value == "Upload images"
    app.file_uploader[0].set_value([("good.png", png(), "image/png"), ("notes.png", b"hello", "image/png"),
                                    ("grey.png", png(mode="L"), "image/png"), ("empty.png", b"", "image/png")]).run()
    assert not app.exception
    errors = [e.value for e in app.error]
    assert any(e.startswith("notes.png: not an image") for e in errors)
    assert any(e.startswith("empty.png: file is empty") for e in errors)
    verdicts = [m.value for m in app.markdown if m.value.startswith("**")]
    assert [v.split(":")[0] for v in verdicts] == ["**good.png**", "**grey.png**"]
    charts = app.get("plotly_chart")
    assert len(charts) == 4  # a heat map and a top-5 per good image
    heat = json.loads(charts[0].proto.spec)
    assert [trace["type"] for trace in heat["data"]] == ["image", "heatmap"]
    assert len(json.loads(charts[1].proto.spec)["data"][0]["y"]) == 5


def test_page_explains_an_image_by_id(app_env, small_demo):
    app = open_page("predict")
    next(r for r in app.radio if r.label == "Image").set_value("A train or test ID").run()
    dataset = KaggleDataset(small_demo)
    app.number_input[0].set_value(dataset.test_ids[0]).run()
    assert not app.exception and not app.error
    assert any(m.value.startswith(f"**test ID {dataset.test_ids[0]}: test (answer key:") for m in app.markdown)
    app.number_input[0].set_value(999999).run()
    assert any("ID 999999 is neither" in e.value for e in app.error) and not app.exception
