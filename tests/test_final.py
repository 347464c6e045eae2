"""The final submission in one command (julia_core.runs.final, `final`, Submit's button): a
validated run, its refits with seeds, their ensemble with TTA, the checked CSV; stopped in the
middle and resumed."""
import json

import pytest
from conftest import by_label, open_page, run_cli

from julia_core.data.dataset import KaggleDataset
from julia_core.errors import JuliaError, RunError
from julia_core.predict.submission import validate_submission
from julia_core.runs import final, launcher
from julia_core.runs.status import FINISHED

QUICK_FINAL = dict(epochs=1, batch_size=32)


def until_stage(plan, runs_root, stages, timeout=240):
    """Advance the final until it reaches one of `stages`; its state then."""
    seen = {}

    def reached() -> bool:
        seen["state"] = final.advance(plan, runs_root)
        return seen["state"].stage in stages
    assert launcher.wait_for(reached, timeout, 0.5), seen["state"].message
    return seen["state"]


@pytest.mark.slow
def test_the_final_stopped_in_the_middle_resumes_to_a_checked_csv(small_demo, tmp_path, monkeypatch):
    """`best` on the demo set: the validated run, then two refits, stopped; the final stalls and
    says so, `final --resume` takes it to the CSV."""
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")  # the second refit waits in the queue until the stop
    runs_root = tmp_path / "runs"
    plan = final.FinalPlan("demo-final", "best", 2, str(small_demo), options=QUICK_FINAL)
    state = final.start(plan, runs_root)
    assert state.stage == final.VALIDATING and state.validated.config.init  # best starts from shipped weights
    state = until_stage(plan, runs_root, (final.REFITTING,))
    for run in state.refits:  # stop the refits, queued or running
        if run.active:
            launcher.stop(run.dir)
    assert launcher.wait_for(lambda: not any(r.active for r in final.advance(plan, runs_root).refits), 120, 0.5)
    stalled = final.advance(plan, runs_root)
    assert stalled.stage == final.STALLED and "resume the final" in stalled.message and stalled.submission is None

    result = run_cli("final", "--resume", "demo-final", "--runs", runs_root, timeout=300)
    assert result.returncode == 0, result.stderr
    done = final.advance(plan, runs_root)
    assert done.stage == final.DONE and str(done.submission) in result.stdout
    assert [run.state for run in done.refits] == [FINISHED, FINISHED]
    assert {run.config.refit_of for run in done.refits} == {done.validated.name}
    assert len(validate_submission(done.submission, KaggleDataset(small_demo).test_ids)) == 62
    assert done.estimate is not None and f"{done.estimate:.4f}" in result.stdout


def test_a_final_is_named_and_checked_before_anything_starts(small_demo, tmp_path):
    runs_root = tmp_path / "runs"
    for plan, message in ((final.FinalPlan("bad/name", data=str(small_demo)), "may hold only"),
                          (final.FinalPlan("ok", seeds=99, data=str(small_demo)), "seeds must be"),
                          (final.FinalPlan("ok", "nope", data=str(small_demo)), "unknown preset"),
                          (final.FinalPlan("ok", data=str(tmp_path / "nowhere")), "nowhere")):
        with pytest.raises(JuliaError, match=message):
            final.start(plan, runs_root)
    assert not any(runs_root.glob("2*"))


def test_final_command_errors_are_one_line(tmp_path):
    result = run_cli("final", "--resume", "nothing-here", "--runs", tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no such final" in result.stderr


def test_a_damaged_plan_is_named_not_fatal(small_demo, tmp_path):
    runs_root = tmp_path / "runs"
    (runs_root / final.FINALS).mkdir(parents=True)
    (runs_root / final.FINALS / "broken.json").write_text("{half")
    [(plan, problem)] = final.list_plans(runs_root)
    assert plan is None and "broken.json" in problem and "\n" not in problem
    result = run_cli("final", "--list", "--runs", runs_root)
    assert result.returncode == 0 and "damaged:" in result.stdout
    with pytest.raises(RunError, match="not a readable final plan"):
        final.load_plan(runs_root, "broken")


def test_submit_page_starts_a_final_and_lists_it(app_env, tmp_path, monkeypatch):
    runs_root = tmp_path / "final-runs"
    monkeypatch.setenv("JULIA_RUNS", str(runs_root))
    app = open_page("submit")
    by_label(app.selectbox, "Preset").set_value("fast")  # in a form: sent with its button
    by_label(app.button, "Start the final submission").click().run()
    assert not app.exception and app.success and "queued" in app.success[0].value
    [plan_path] = (runs_root / final.FINALS).glob("*.json")
    plan = json.loads(plan_path.read_text())
    assert plan["preset"] == "fast" and plan["seeds"] == 3
    assert any(plan["name"] in markdown.value for markdown in app.markdown)
    for run in launcher.list_runs(runs_root):  # leave nothing training behind the test
        if run.active:
            launcher.stop(run.dir)


def test_a_final_whose_runs_are_gone_stalls_instead_of_starting_over(small_demo, tmp_path):
    """The plan names its runs once queued: a run deleted on Monitor is said, never queued again."""
    runs_root = tmp_path / "runs"
    plan = final.FinalPlan("gone", "fast", 2, str(small_demo), validated="20990101-000000-gone")
    final._save(plan, runs_root)
    state = final.advance(plan, runs_root)
    assert state.stage == final.STALLED and "20990101-000000-gone" in state.message and "gone" in state.message
    assert not any(runs_root.glob("2*"))


@pytest.mark.parametrize("damage", ['[]', '{"name": "broken", "created": 5}', '{"name": "broken", "data": null}',
                                    '{"name": "broken", "options": {"epochs": "many"}}', '{"name": "other"}'])
def test_damaged_plans_are_one_line_on_the_submit_page_too(damage, app_env, tmp_path, monkeypatch):
    runs_root = tmp_path / "runs"
    (runs_root / final.FINALS).mkdir(parents=True)
    (runs_root / final.FINALS / "broken.json").write_text(damage)
    [(plan, problem)] = final.list_plans(runs_root)
    assert plan is None and "broken.json" in problem and "\n" not in problem
    monkeypatch.setenv("JULIA_RUNS", str(runs_root))
    app = open_page("submit")
    assert any("broken.json" in error.value for error in app.error)
