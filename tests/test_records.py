"""Run records (tags, note, archive, delete) and run filters, in the core and the CLI."""
import json
import multiprocessing
import os

import pytest
from conftest import run_cli

from julia_core.errors import JuliaError, RunError
from julia_core.runs import filters, launcher, records
from julia_core.runs.filters import RunFilter
from julia_core.runs.status import new_status
from julia_core.runs.store import RunDir
from julia_core.training.config import make_config


def make_run(root, name, state="finished", acc=None, **options):
    """A run folder as a trainer leaves it (no weights): enough for records and filters. A
    running one is held by this test process, so no reader takes it for dead."""
    pid = os.getpid() if state == "running" else None
    config = make_config(options.pop("preset", "fast"), data="/nowhere", name=name, **options)
    return RunDir.create(root, name, config, new_status(state, 3, best_val_acc=acc, pid=pid, pgid=pid))


def names(runs):
    return sorted(run.name.split("-", 2)[2] for run in runs)


# -- records -------------------------------------------------------------------------------------
def test_tags_note_and_archive_round_trip_through_the_listing(tmp_path):
    run_dir = make_run(tmp_path, "alpha")
    records.tag(run_dir, add=["baseline", "good", "baseline"])
    records.tag(run_dir, add=["v2"], remove=["good"])
    records.set_note(run_dir, "  lr too high after epoch 20  ")
    [run] = launcher.list_runs(tmp_path)
    assert run.tags == ("baseline", "v2") and run.record.note == "lr too high after epoch 20" and not run.archived
    records.archive(run_dir)
    first = records.read_record(run_dir).archived
    assert first and records.archive(run_dir).archived == first  # archiving twice keeps the first time
    assert launcher.list_runs(tmp_path)[0].archived
    assert not records.restore(run_dir).archived
    assert json.loads(records.record_file(run_dir).read_text())["tags"] == ["baseline", "v2"]


def test_a_running_run_can_be_tagged_and_its_status_is_untouched(tmp_path):
    run_dir = make_run(tmp_path, "busy", "running")
    before = run_dir.status_file.read_bytes()
    records.tag(run_dir, add=["watch"])
    assert run_dir.status_file.read_bytes() == before


@pytest.mark.parametrize("tags,message", [
    (["two words"], "tag 'two words': 1-40 letters"),
    (["a,b"], "tag 'a,b'"),
    (["-dash"], "tag '-dash'"),
    ([""], "tag ''"),
    (["x" * 41], "tag 'xxxx"),
    ([f"t{i}" for i in range(21)], "at most 20 tags per run, this would make 22"),
])
def test_bad_tags_are_one_line_and_change_nothing(tmp_path, tags, message):
    run_dir = make_run(tmp_path, "alpha")
    records.tag(run_dir, add=["kept"])
    with pytest.raises(RunError, match=message):
        records.tag(run_dir, add=tags)
    assert records.read_record(run_dir).tags == ("kept",)


def test_a_note_too_long_is_refused(tmp_path):
    run_dir = make_run(tmp_path, "alpha")
    with pytest.raises(RunError, match="at most 5000 characters, this one has 5001"):
        records.set_note(run_dir, "x" * 5001)


@pytest.mark.parametrize("content", [b"", b"{torn", b"[1, 2]", b'{"tags": "good"}', b"\xff\xfe noise"])
def test_a_damaged_record_lists_the_run_without_tags_and_the_next_edit_replaces_it(tmp_path, content):
    run_dir = make_run(tmp_path, "alpha", acc=0.5)
    records.record_file(run_dir).write_bytes(content)
    [run] = launcher.list_runs(tmp_path)
    assert not run.damaged and run.tags == () and "record.json" in run.record_problem
    assert "record.json" in launcher.run_table([run])[0]["error"]
    records.tag(run_dir, add=["fresh"])
    [run] = launcher.list_runs(tmp_path)
    assert run.tags == ("fresh",) and run.record_problem is None


def _tag_many(path: str, prefix: str) -> None:
    for i in range(15):
        records.tag(RunDir(path), add=[f"{prefix}{i}"])
        records.tag(RunDir(path), remove=[f"{prefix}{i}"])
    records.tag(RunDir(path), add=[f"{prefix}-last"])


def test_edits_from_several_processes_lose_nothing(tmp_path):
    run_dir = make_run(tmp_path, "race")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_tag_many, args=(str(run_dir.path), prefix)) for prefix in "abc"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(records.read_record(run_dir).tags) == ["a-last", "b-last", "c-last"]


def test_delete_removes_the_folder_and_refuses_an_active_run(tmp_path):
    done, busy, queued = make_run(tmp_path, "done"), make_run(tmp_path, "busy", "running"), make_run(tmp_path, "wait", "queued")
    for run_dir, state in ((busy, "running"), (queued, "queued")):
        with pytest.raises(RunError, match=f"{run_dir.name} is {state}: stop it first"):
            records.delete(run_dir)
        assert run_dir.path.is_dir()
    records.delete(done)
    assert not done.path.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".deleted")]
    with pytest.raises(RunError, match="run directory not found"):
        records.tag(done, add=["late"])  # a page that still shows it gets a line, not a traceback


def test_a_damaged_run_can_be_deleted(tmp_path):
    run_dir = make_run(tmp_path, "broken")
    run_dir.status_file.write_text("{torn")
    records.delete(run_dir)
    assert not run_dir.path.exists()


# -- filters -------------------------------------------------------------------------------------
@pytest.fixture
def many(tmp_path):
    make_run(tmp_path, "wide-a", acc=0.80, model="charnet_wide")
    make_run(tmp_path, "wide-b", acc=0.70, model="charnet_wide", lr=0.001)
    make_run(tmp_path, "deep-a", "stopped", acc=0.60, model="charnet_deep")
    make_run(tmp_path, "seed-a", acc=0.50, preset="seed")
    make_run(tmp_path, "trial-0", acc=0.75, sweep="s1", trial=0)
    records.tag(make_run(tmp_path, "kept", acc=0.90), add=["final", "good"])
    records.archive(make_run(tmp_path, "old", acc=0.95))
    return launcher.list_runs(tmp_path)


@pytest.mark.parametrize("run_filter,expected", [
    (RunFilter(), ["deep-a", "kept", "seed-a", "trial-0", "wide-a", "wide-b"]),
    (RunFilter(archived=True), ["deep-a", "kept", "old", "seed-a", "trial-0", "wide-a", "wide-b"]),
    (RunFilter(states=("stopped",)), ["deep-a"]),
    (RunFilter(tags=("final", "good")), ["kept"]),
    (RunFilter(tags=("final", "other")), []),
    (RunFilter(name="wide"), ["wide-a", "wide-b"]),
    (RunFilter(name="*-A"), ["deep-a", "seed-a", "wide-a"]),
    (RunFilter(models=("charnet_wide", "charnet_deep")), ["deep-a", "wide-a", "wide-b"]),
    (RunFilter(presets=("seed",)), ["seed-a"]),
    (RunFilter(sweeps=("s1",)), ["trial-0"]),
    (RunFilter(min_acc=0.7, max_acc=0.8), ["trial-0", "wide-a", "wide-b"]),
    (RunFilter(min_acc=0.9, archived=True), ["kept", "old"]),
    (RunFilter(models=("charnet_wide",), min_acc=0.75), ["wide-a"]),
])
def test_filters_narrow_together(many, run_filter, expected):
    assert names(filters.select(many, run_filter)) == expected


@pytest.mark.parametrize("options,message", [
    (dict(states=("exploded",)), "state 'exploded' is not one of queued"),
    (dict(min_acc=1.5), "accuracy bound 1.5 is outside 0..1"),
    (dict(min_acc=0.8, max_acc=0.2), "accuracy range 0.8..0.2 is reversed"),
])
def test_a_bad_filter_is_one_line(options, message):
    with pytest.raises(JuliaError, match=message):
        RunFilter(**options)


def test_groups_by_any_option(many):
    grouped = filters.groups(filters.select(many, RunFilter()), "model")
    assert {group: names(runs) for group, runs in grouped.items()} == {
        "charnet_wide": ["wide-a", "wide-b"], "charnet_deep": ["deep-a"], "charnet": ["kept", "trial-0"],
        "seed_resnet18": ["seed-a"]}
    assert {group: len(runs) for group, runs in filters.groups(many, "lr").items()} == {"0.003": 5, "0.001": 2}
    with pytest.raises(JuliaError, match="cannot group by 'colour'"):
        filters.group_of(many[0], "colour")
    assert filters.choices(many)["tags"] == ["final", "good"] and filters.choices(many)["sweeps"] == ["s1"]


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_tags_notes_filters_archives_and_deletes(many, tmp_path):
    def cli(*args):
        return run_cli("runs", *args, "--runs", tmp_path)

    assert cli("tag", "wide-a", "best", "v2").stdout.strip().endswith("tags best, v2")
    assert cli("tag", "wide-a", "v2", "--remove").stdout.strip().endswith("tags best")
    assert cli("note", "wide-a", "try a lower lr").stdout.strip().endswith("note set")
    listed = cli("--tag", "best").stdout
    assert "wide-a" in listed and "wide-b" not in listed and "6 more runs left out" in listed
    grouped = cli("--model", "charnet_wide", "--group-by", "lr").stdout.splitlines()
    assert grouped[0].startswith("lr ") and [line.split()[0] for line in grouped[1:3]] == ["0.001", "0.003"]
    assert cli("archive", "wide-b").stdout.strip().endswith("wide-b: archived")
    assert "wide-b" not in cli().stdout and "wide-b" in cli("--archived").stdout
    assert cli("restore", "wide-b").returncode == 0 and "wide-b" in cli().stdout
    refused = cli("delete", "wide-b")  # not a terminal: it cannot ask
    assert refused.returncode == 2 and "add --yes to delete" in refused.stderr and "wide-b" in cli().stdout
    assert cli("delete", "wide-b", "--yes").returncode == 0 and "wide-b" not in cli("--archived").stdout
    bad = cli("tag", "wide-a", "no good")
    assert bad.returncode == 2 and bad.stderr.startswith("error: tag 'no good'") and len(bad.stderr.splitlines()) == 1
    assert cli("--state", "exploded").stderr.startswith("error: state 'exploded'")
    assert cli("note", "nothing-like-this", "x").stderr.startswith("error: no run matches 'nothing-like-this'")


def test_cli_delete_of_a_running_run_is_refused(tmp_path):
    make_run(tmp_path, "busy", "running")
    result = run_cli("runs", "delete", "busy", "--yes", "--runs", tmp_path)
    assert result.returncode == 2 and "is running: stop it first" in result.stderr


def test_an_edit_changes_only_what_it_names(tmp_path):
    run_dir = make_run(tmp_path, "alpha")
    records.tag(run_dir, add=["seen-on-page"])
    records.tag(run_dir, add=["added-elsewhere"])  # after the page rendered
    records.edit(run_dir, add=["new"], remove=["seen-on-page"], note=None)
    record = records.read_record(run_dir)
    assert record.tags == ("added-elsewhere", "new") and record.note == ""
    records.edit(run_dir, note="kept")
    assert records.read_record(run_dir).note == "kept" and records.read_record(run_dir).tags == ("added-elsewhere", "new")
    with pytest.raises(RunError, match="tag 'bad one'"):
        records.edit(run_dir, add=["fine", "bad one"], note="lost")
    assert records.read_record(run_dir).note == "kept"  # nothing of a refused edit is written


def test_an_active_run_cannot_be_archived(tmp_path):
    busy = make_run(tmp_path, "busy", "running")
    with pytest.raises(RunError, match="is running: stop it first .*then archive it"):
        records.archive(busy)
    assert not records.read_record(busy).archived


def test_a_writer_waiting_on_the_lock_of_a_deleted_run_gets_a_line(tmp_path):
    run_dir = make_run(tmp_path, "gone")
    same = RunDir(run_dir.path)
    with run_dir.status_lock():
        run_dir.path.rename(run_dir.path.with_name(".elsewhere"))  # as delete does, under the lock
    with pytest.raises(RunError, match="run directory not found"):
        records.tag(same, add=["late"])


def test_cli_checks_every_run_before_changing_any(tmp_path):
    done, busy = make_run(tmp_path, "done"), make_run(tmp_path, "busy", "running")
    result = run_cli("runs", "delete", "done", "busy", "--yes", "--runs", tmp_path)
    assert result.returncode == 2 and "busy is running" in result.stderr and done.path.is_dir()
    result = run_cli("runs", "archive", "done", "busy", "--runs", tmp_path)
    assert result.returncode == 2 and not records.read_record(done).archived
