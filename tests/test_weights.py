"""The pretrained weights that ship with the package: their cards and checksums, what they know,
how a damaged or foreign file is refused, and the `pretrain` run that makes them."""
import json
import pickle
import shutil
from fractions import Fraction

import pytest
import torch
from conftest import by_label, open_page, run_cli

from julia_core.data.dataset import KaggleDataset
from julia_core.synthetic.demo import Drawing, generate_demo
from julia_core.training import weights
from julia_core.training.config import PRESETS, ConfigError, TrainConfig, make_config
from julia_core.training.loop import evaluate
from julia_core.training.models import build_model
from julia_core.training.tensors import run_images

SHIPPED = weights.shipped_names()
BEST_WEIGHTS = PRESETS["best"]["init"]


def test_the_best_preset_starts_from_shipped_weights():
    assert BEST_WEIGHTS in SHIPPED and PRESETS["best"].get("pretrain", 0) == 0


@pytest.mark.parametrize("name", SHIPPED)
def test_each_card_describes_its_file(name):
    card = weights.read_card(name)
    path = weights.weights_file(name)
    assert card.sha256 == weights.sha256_of(path) and card.bytes == path.stat().st_size
    assert card.kaggle_images_seen == 0 and card.storage == "float16"
    assert card.command.startswith("python -m julia_core pretrain ")
    assert card.synthetic["per_class"] > 0 and card.synthetic["font_families"] and card.synthetic["fonts_digest"]
    assert card.pretraining["epochs"] > 0 and 0.5 < card.check_accuracy <= 1
    assert card.torch and card.run
    state = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())


def test_all_shipped_weights_fit_in_25_mb():
    total = sum(path.stat().st_size for path in weights.WEIGHTS_DIR.iterdir())
    assert total <= weights.MAX_SHIPPED_BYTES, f"{total / 2**20:.1f} MB in {weights.WEIGHTS_DIR}"


def test_the_best_weights_read_freshly_drawn_characters(tmp_path):
    """Characters the demo generator draws now (another seed than any the weights saw, this
    machine's fonts) are read far above chance (1/62): a random or wrong file fails."""
    card = weights.read_card(BEST_WEIGHTS)
    drawn = generate_demo(tmp_path / "fresh", 5, 0, seed=4242, drawing=Drawing(workers=1)).root
    config = TrainConfig(model=card.model, image_size=card.image_size, mode=card.mode, normalize=card.normalize,
                         source="original")
    images = run_images(KaggleDataset(drawn), "train", config)
    model = build_model(card.model, card.channels)
    model.load_state_dict(weights.load_weights(BEST_WEIGHTS, card.model, card.mode))
    accuracy = evaluate(model, torch.from_numpy(images.images), torch.from_numpy(images.labels), config).acc
    assert accuracy >= 0.8, accuracy


@pytest.fixture
def registry(tmp_path):
    """A copy of the shipped weights to damage."""
    folder = tmp_path / "weights"
    shutil.copytree(weights.WEIGHTS_DIR, folder)
    return folder


def refused(registry, name=BEST_WEIGHTS, model=None, mode=None) -> str:
    card = weights.read_card(name, registry)
    with pytest.raises(weights.WeightsError) as caught:
        weights.load_weights(name, model or card.model, mode or card.mode, folder=registry)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_missing_file_is_one_line(registry):
    weights.weights_file(BEST_WEIGHTS, registry).unlink()
    assert "missing" in refused(registry) and BEST_WEIGHTS in refused(registry)


def test_a_truncated_file_is_one_line(registry):
    path = weights.weights_file(BEST_WEIGHTS, registry)
    path.write_bytes(path.read_bytes()[:1000])
    assert "sha256 does not match" in refused(registry)


def test_a_noisy_file_is_one_line(registry):
    path = weights.weights_file(BEST_WEIGHTS, registry)
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    assert "sha256 does not match" in refused(registry)


def test_weights_of_another_model_or_colour_are_one_line(registry):
    assert "made for charnet" in refused(registry, model="charnet_wide")
    assert "grey" in refused(registry, mode="RGB")


def test_a_foreign_file_under_a_matching_card_is_one_line(registry):
    """A card rewritten for a file that is no state dict (a pickle, here) is still refused: the
    file is read with weights_only=True."""
    path = weights.weights_file(BEST_WEIGHTS, registry)
    path.write_bytes(pickle.dumps(Fraction(1, 3)))  # no tensor: weights_only refuses to build it
    card = json.loads(weights.card_file(BEST_WEIGHTS, registry).read_text())
    card["sha256"] = weights.sha256_of(path)
    weights.card_file(BEST_WEIGHTS, registry).write_text(json.dumps(card))
    message = refused(registry)
    assert "unreadable" in message or "no state dict" in message


@pytest.mark.parametrize("damage", ["{not json", "[]", '{"name": 3}', "MODE", "SYNTHETIC", "MISSING"])
def test_unknown_names_and_damaged_cards_are_one_line(registry, damage):
    with pytest.raises(weights.WeightsError, match="no such shipped weights"):
        weights.read_card("no-such-weights", registry)
    path = weights.card_file(BEST_WEIGHTS, registry)
    card = json.loads(path.read_text())
    edits = {"MODE": dict(card, mode="CMYK"), "SYNTHETIC": dict(card, synthetic="many"),
             "MISSING": {k: v for k, v in card.items() if k != "sha256"}}
    path.write_text(json.dumps(edits[damage]) if damage in edits else damage)
    found, problems = weights.cards(registry)
    assert BEST_WEIGHTS not in [card.name for card in found] and len(problems) == 1 and "\n" not in problems[0]
    assert str(path) in problems[0]


def test_best_on_the_demo_set_starts_from_the_shipped_weights_and_draws_nothing(small_demo, tmp_path, isolated_cache):
    result = run_cli("train", "--preset", "best", "--data", small_demo, "--runs", tmp_path / "runs", "--epochs", 1,
                     "--batch-size", 32, "--no-progress")
    assert result.returncode == 0, result.stderr
    [run] = (tmp_path / "runs").glob("2*")
    config = json.loads((run / "config.json").read_text())
    assert config["init"] == BEST_WEIGHTS and config["pretrain"] == 0
    assert f"started from the weights in {BEST_WEIGHTS}" in (run / "train.log").read_text()
    assert not (isolated_cache / "synthetic").exists() and not (isolated_cache / "pretrained").exists()


def test_best_with_pretrain_rebuilds_instead():
    config = make_config("best", pretrain=100)
    assert config.init == "" and config.pretrain == 100


def test_a_pretraining_run_writes_weights_and_a_card_that_ship(tmp_path):
    """`pretrain` as an ordinary run: draws its set, trains, writes weights.pt and its card;
    `weights ship` copies them into a registry that a run can then start from."""
    result = run_cli("pretrain", "--like", "fast", "--per-class", 4, "--epochs", 1, "--runs", tmp_path / "runs",
                     "--name", "tiny", "--no-progress")
    assert result.returncode == 0, result.stderr
    [run] = (tmp_path / "runs").glob("2*")
    card = weights.parse_card(weights.card_file(weights.RUN_STEM, run))
    assert card.name == "charnet-32-grey-synth" and card.synthetic["per_class"] == 4 and card.run == run.name
    assert card.command == "python -m julia_core pretrain --like fast --per-class 4 --epochs 1 --seed 0"
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert not (run / "submission.csv").exists()  # no test images: nothing to submit
    registry = tmp_path / "registry"
    shipped = weights.ship(run, "tiny-weights", registry)
    assert weights.read_card("tiny-weights", registry).sha256 == shipped.sha256
    state = weights.load_weights("tiny-weights", "charnet", "L", folder=registry)
    build_model("charnet", 1).load_state_dict(state)


def test_pretrain_and_weights_commands_say_what_is_wrong_in_one_line(tmp_path):
    for args, message in ((("pretrain", "--like", "fast", "--per-class", 9999, "--runs", tmp_path), "synthetic must be"),
                          (("pretrain", "--fonts", tmp_path / "none", "--runs", tmp_path), "no such font folder"),
                          (("pretrain", "--fonts", tmp_path, "--runs", tmp_path), "holds no TrueType"),
                          (("pretrain", "--detach", "--ship", "--runs", tmp_path), "--ship needs"),
                          (("weights", "ship", "nope", "--runs", tmp_path), "nope"),
                          (("weights", "check", "no-such-weights"), "no such shipped weights")):
        result = run_cli(*args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr


def test_weights_list_names_each_card():
    result = run_cli("weights", "list")
    assert result.returncode == 0 and all(name in result.stdout for name in SHIPPED)
    assert "rebuild: python -m julia_core pretrain" in result.stdout


def test_train_page_offers_the_shipped_weights_by_name(app_env):
    app = open_page("train")
    by_label(app.selectbox, "Preset").set_value("best").run()
    start_from = by_label(app.selectbox, "Start from")
    assert start_from.value == BEST_WEIGHTS
    assert any(option.startswith(f"{BEST_WEIGHTS} (shipped") for option in start_from.options)
    by_label(app.selectbox, "Preset").set_value("fast").run()
    assert by_label(app.selectbox, "Start from").value == ""


def test_a_pretraining_run_never_trains_on_a_data_set(small_demo):
    """The card says synthetic characters only: a pre-training run whose data is not its own
    synthetic set (a hand-edited config.json) is refused before it reads an image."""
    from julia_core.training.pretrain import draw_synthetic_data
    config = TrainConfig(data=str(small_demo), synthetic=3)
    with pytest.raises(ConfigError, match="not the synthetic set of this pre-training run"):
        draw_synthetic_data(config)
