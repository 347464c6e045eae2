"""Monitor's controls for many runs through AppTest: the run filter, groups, log axes, tags and
note, archive and restore, delete (asked first, refused while running, a run gone meanwhile),
the parallel coordinates and the difference of two configs; the curve export and system figures
from the core."""
import json
import shutil

import pytest

from conftest import by_label, open_page
from julia_core.runs import launcher, records
from julia_core.runs.store import RunDir, write_json
from julia_core.views.curves import ScalarStream, config_difference, system_frame, tidy_curves
from julia_core.views.ui import forget_runs
from test_records import make_run


def copy_run(source: RunDir, root, name: str, **options) -> RunDir:
    """The fixture's finished run under another name, some options changed (as if trained so)."""
    target = root / f"20261203-120000-{name}"
    shutil.copytree(source.path, target)
    config = {**json.loads((target / "config.json").read_text()), **options, "name": name}
    write_json(target / "config.json", config)
    return RunDir(target)


@pytest.fixture
def three_runs(app_env, monkeypatch, tmp_path):
    """Two finished runs with curves (different lr, model), one running: a runs folder of its own."""
    _, fixture = app_env
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("JULIA_RUNS", str(root))
    first = copy_run(RunDir(fixture), root, "first")
    second = copy_run(RunDir(fixture), root, "second", lr=0.01, model="charnet_wide")
    busy = make_run(root, "busy", "running")
    return first, second, busy


def names_of(app) -> list[str]:
    return by_label(app.multiselect, "Runs").options


def test_filter_narrows_the_runs_and_archive_hides_one_until_asked(three_runs):
    first, second, busy = three_runs
    records.tag(first, add=["keep"])
    app = open_page("monitor")
    assert set(names_of(app)) == {first.name, second.name, busy.name}
    by_label(app.multiselect, "Tags (all of them)").set_value(["keep"]).run()
    assert names_of(app) == [first.name] and any("1 of 3 runs pass the filter" in c.value for c in app.caption)
    by_label(app.multiselect, "Tags (all of them)").set_value([]).run()
    by_label(app.text_input, "Name").set_value("sec*").run()
    assert names_of(app) == [second.name]
    by_label(app.text_input, "Name").set_value("").run()
    by_label(app.multiselect, "State").set_value(["running"]).run()
    assert names_of(app) == [busy.name]
    records.archive(second)
    app = open_page("monitor")
    assert second.name not in names_of(app)
    by_label(app.checkbox, "Show archived runs").check().run()
    assert second.name in names_of(app)


def test_tags_and_note_save_together_and_archive_restores(three_runs):
    first, _, _ = three_runs
    app = open_page("monitor")
    by_label(app.selectbox, "Run").set_value(first.name).run()
    by_label(app.multiselect, "Tags").set_value(["baseline", "v2"])
    by_label(app.text_area, "Note").input("too few epochs")
    by_label(app.button, "Save tags and note").click().run()
    assert not app.exception and not app.error
    record = records.read_record(first)
    assert record.tags == ("baseline", "v2") and record.note == "too few epochs"
    by_label(app.selectbox, "Run").set_value(first.name).run()
    by_label(app.button, "Archive").click().run()
    assert records.read_record(first).archived and first.name not in names_of(app)
    app = open_page("monitor", run=first.name)  # a link still opens an archived run
    by_label(app.selectbox, "Run").set_value(first.name).run()
    by_label(app.button, "Restore").click().run()
    assert not records.read_record(first).archived and first.name in names_of(app)


def test_delete_asks_first_and_is_off_for_a_running_run(three_runs):
    first, _, busy = three_runs
    app = open_page("monitor")
    by_label(app.selectbox, "Run").set_value(busy.name).run()
    assert by_label(app.button, "Delete ...").disabled
    by_label(app.selectbox, "Run").set_value(first.name).run()
    by_label(app.button, "Delete ...").click().run()
    assert any("Delete " + first.name in w.value for w in app.warning) and first.path.is_dir()
    by_label(app.button, "Cancel").click().run()
    assert first.path.is_dir()
    by_label(app.selectbox, "Run").set_value(first.name).run()
    by_label(app.button, "Delete ...").click().run()
    by_label(app.button, "Yes, delete").click().run()
    assert not app.exception and not first.path.exists() and first.name not in names_of(app)


def test_a_run_deleted_behind_the_page_is_a_line(three_runs):
    first, second, _ = three_runs
    app = open_page("monitor")
    by_label(app.multiselect, "Runs").set_value([first.name, second.name]).run()
    by_label(app.selectbox, "Run").set_value(first.name).run()
    shutil.rmtree(first.path)
    by_label(app.button, "Archive").click().run()
    assert not app.exception
    # the listing (cached for a second) may still show the run: then Archive says in a line that
    # it is gone; or it no longer shows it, and the page simply offers it no more
    gone_line = any("run directory not found" in e.value for e in app.error)
    assert gone_line != (first.name not in names_of(app))
    forget_runs()
    app.run()
    assert not app.exception and first.name not in names_of(app)
    assert by_label(app.multiselect, "Runs").value == [second.name]  # the chosen run still there stays chosen


def test_groups_log_axis_parallel_coordinates_and_difference(three_runs):
    first, second, _ = three_runs
    app = open_page("monitor")
    by_label(app.multiselect, "Runs").set_value([first.name, second.name]).run()
    kinds = [json.loads(chart.proto.spec)["data"][0]["type"] for chart in app.get("plotly_chart")]
    # loss, accuracy, the system figures the runs have (their trainer logged some if it ran 5 s), then
    # the options against accuracy
    assert kinds[:2] == ["scatter", "scatter"] and kinds[-1] == "parcoords" and set(kinds[2:-1]) <= {"scatter"}
    by_label(app.toggle, "Log-scale y").set_value(True).run()
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["yaxis"]["type"] == "log"
    by_label(app.selectbox, "Group by (one colour per group)").set_value("model").run()
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    titles = {trace.get("legendgrouptitle", {}).get("text") for trace in figure["data"]} - {None}
    assert titles == {"charnet", "charnet_wide"}
    assert any('"parcoords"' in chart.proto.spec for chart in app.get("plotly_chart"))
    difference = next(frame.value for frame in app.dataframe if "option" in frame.value.columns)
    assert set(difference["option"]) == {"lr", "model"}
    assert len(app.get("download_button")) == 1


def test_curves_export_one_tidy_row_per_point(three_runs):
    first, second, _ = three_runs
    records.tag(first, add=["a", "b"])
    runs = [run for run in launcher.list_runs(first.path.parent) if run.name in (first.name, second.name)]
    frame = tidy_curves({run.name: ScalarStream(run.path) for run in runs}, runs)
    assert list(frame.columns) == ["run", "run_tags", "tag", "step", "epoch", "value", "wall_time"]
    accuracy = frame[(frame.run == first.name) & (frame.tag == "val/acc")]
    assert list(accuracy.epoch) == [1.0] and accuracy.wall_time.iloc[0] > 1.7e9
    assert set(frame[frame.run == first.name].run_tags) == {"a, b"}
    steps = frame[(frame.run == first.name) & (frame.tag == "train/loss_step")]
    per_epoch = runs[0].status.steps_per_epoch
    assert (steps.epoch * per_epoch).round().astype(int).tolist() == steps.step.astype(int).tolist()


def test_config_difference_names_only_what_differs(three_runs):
    first, second, _ = three_runs
    runs = {run.name: run for run in launcher.list_runs(first.path.parent)}
    assert config_difference(runs[first.name], runs[first.name]).empty
    difference = config_difference(runs[first.name], runs[second.name])
    assert difference.set_index("option").loc["lr", second.name] == "0.01"


def test_system_figures_plot_against_minutes(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    writer = SummaryWriter(str(tmp_path))
    for step, wall in enumerate((1000.0, 1030.0, 1090.0)):
        writer.add_scalar("system/cpu_percent", 50.0 + step, step, walltime=wall)
    writer.close()
    scalars, walls = ScalarStream(tmp_path).reload_with_walls()
    frame = system_frame({"r": scalars}, {"r": walls}, "system/cpu_percent")
    assert frame.x.tolist() == [0.0, 0.5, 1.5] and frame.value.tolist() == [50.0, 51.0, 52.0]


def test_a_damaged_record_is_a_warning_and_saving_writes_a_fresh_one(three_runs):
    first, _, _ = three_runs
    records.record_file(first).write_bytes(b"\x00noise")
    app = open_page("monitor")
    by_label(app.selectbox, "Run").set_value(first.name).run()
    assert any("record.json" in w.value and "saving writes a fresh one" in w.value for w in app.warning)
    by_label(app.multiselect, "Tags").set_value(["fixed"])
    by_label(app.button, "Save tags and note").click().run()
    assert records.read_record(first).tags == ("fixed",)


def test_system_figures_show_on_monitor(three_runs):
    from torch.utils.tensorboard import SummaryWriter
    first, _, _ = three_runs
    writer = SummaryWriter(str(first.path))
    for step, wall in enumerate((2000.0, 2005.0, 2010.0)):
        writer.add_scalar("system/memory_mb", 500.0 + step, step, walltime=wall)
    writer.close()
    app = open_page("monitor")
    by_label(app.multiselect, "Runs").set_value([first.name]).run()
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert "system/memory_mb" in titles and not app.exception
