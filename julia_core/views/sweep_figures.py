"""A sweep's pictures: Optuna's own plotly views of its study, or why one cannot be drawn yet."""
import warnings

import optuna.visualization as views

# title -> (Optuna's view, what it needs before it means anything)
VIEWS = {
    "Optimization history": (views.plot_optimization_history, 1),
    "Parallel coordinates": (views.plot_parallel_coordinate, 2),
    "Parameter importances": (views.plot_param_importances, 2),
    "Intermediate values (pruning)": (views.plot_intermediate_values, 1),
    "Slices": (views.plot_slice, 1),
}


def sweep_figures(study) -> dict:
    """Each view's figure, or a sentence saying why it is not drawn (too few trials so far)."""
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state.name == "COMPLETE" for t in trials)
    reported = sum(bool(t.intermediate_values) for t in trials)
    figures = {}
    for title, (view, needs) in VIEWS.items():
        have = reported if title.startswith("Intermediate") else finished
        if have < needs:
            what = "trial that reported an epoch" if title.startswith("Intermediate") else "finished trial"
            figures[title] = f"Needs at least {needs} {what}{'s' if needs > 1 else ''}; {have} so far."
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figures[title] = view(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. importances of a parameter that never varied
            figures[title] = f"Cannot be drawn yet: {err}"
    return figures
