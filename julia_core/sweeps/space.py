"""A sweep's search space: a small YAML or JSON file (or the Sweep page's form), checked whole
before anything starts, and turned into Optuna suggestions for each trial.

    preset: fast              # every option not named below is the preset's
    sampler: tpe              # tpe (default), random or grid
    pruner: median            # median (default), halving, hyperband or none
    trials: 24                # a budget of trials, and/or
    timeout_minutes: 120      # of wall time since the sweep started (running trials finish)
    options:
      lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # a range: int or float by the option's type
      augment: {low: 0.0, high: 1.0, step: 0.25}
      model: [charnet, resnet18]                    # a list: choices
      epochs: 10                                    # a plain value: fixed

Errors are one line naming the file and the field (`space.yaml: options.lr: ...`).
"""
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from julia_core.errors import JuliaError
from julia_core.training.config import PRESETS, ConfigError, TrainConfig, make_config


class SpaceError(JuliaError):
    """A search space that cannot be searched; one line naming the file and the field."""


SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "hyperband", "none")
# Options a sweep sets itself, or that name a run rather than shape a recipe.
NOT_SEARCHABLE = ("data", "name", "preset", "refit_of", "group", "sweep", "trial", "folds", "fold", "synthetic", "fonts")
OPTION_TYPES = {f.name: type(f.default) for f in fields(TrainConfig)}
TOP_LEVEL = ("preset", "sampler", "pruner", "trials", "timeout_minutes", "options", "seed",
             "startup_trials", "warmup_epochs")


@dataclass(frozen=True)
class Range:
    """A numeric range of one option: int or float by the option's type, linear or log."""
    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass
class Space:
    """A checked search space; `to_dict` is what the study stores to compare on join."""
    preset: str
    options: dict  # option -> list (choices), Range, or a fixed value
    sampler: str = "tpe"
    pruner: str = "median"
    trials: int | None = None
    timeout_minutes: float | None = None
    seed: int | None = None
    startup_trials: int = 4    # trials the pruner and TPE watch before they act
    warmup_epochs: int = 1     # epochs of a trial before the pruner may end it
    searched: tuple = field(init=False)

    def __post_init__(self):
        self.searched = tuple(name for name, value in self.options.items() if isinstance(value, (list, Range)))

    @property
    def fixed(self) -> dict:
        return {name: value for name, value in self.options.items() if name not in self.searched}

    @property
    def grid(self) -> dict:
        """Every combination, for the grid sampler (which takes lists only)."""
        return {name: self.options[name] for name in self.searched}

    @property
    def budget(self) -> int | None:
        """How many trials to run: the file's `trials`, and never more than a grid has points."""
        if self.sampler != "grid":
            return self.trials
        points = math.prod(len(self.options[name]) for name in self.searched)
        return min(points, self.trials) if self.trials else points

    @property
    def max_epochs(self) -> int:
        """The most epochs a trial can run: the pruners' resource."""
        epochs = self.options.get("epochs", PRESETS[self.preset].get("epochs", TrainConfig.epochs))
        if isinstance(epochs, list):
            return max(epochs)
        return int(epochs.high) if isinstance(epochs, Range) else int(epochs)

    def suggest(self, trial) -> dict:
        """One trial's options: the fixed ones and a value for each searched one, from Optuna."""
        values = dict(self.fixed)
        for name in self.searched:
            spec = self.options[name]
            if isinstance(spec, list):
                values[name] = trial.suggest_categorical(name, spec)
            elif OPTION_TYPES[name] is int:
                values[name] = trial.suggest_int(name, int(spec.low), int(spec.high), step=int(spec.step or 1),
                                                 log=spec.log)
            else:
                values[name] = trial.suggest_float(name, spec.low, spec.high, step=spec.step, log=spec.log)
        return values

    def config(self, values: dict, **run_fields) -> TrainConfig:
        """The trial's TrainConfig: the preset, then its values, then the run's own fields."""
        return make_config(self.preset, **values, **run_fields)

    def to_dict(self) -> dict:
        options = {name: _range_dict(value) if isinstance(value, Range) else value
                   for name, value in self.options.items()}
        keys = ("preset", "sampler", "pruner", "trials", "timeout_minutes", "seed", "startup_trials", "warmup_epochs")
        return {**{key: getattr(self, key) for key in keys}, "options": options}

    def differences(self, other: "Space") -> list[str]:
        """The fields in which two spaces differ (a study joined with another space)."""
        mine, theirs = self.to_dict(), other.to_dict()
        names = [key for key in mine if key != "options" and mine[key] != theirs[key]]
        options = set(mine["options"]) | set(theirs["options"])
        return names + sorted(f"options.{name}" for name in options
                              if mine["options"].get(name) != theirs["options"].get(name))


def _range_dict(spec: Range) -> dict:
    values = {"low": spec.low, "high": spec.high}
    values.update({"log": True} if spec.log else {})
    values.update({"step": spec.step} if spec.step is not None else {})
    return values


def load_space(path: Path) -> Space:
    """Read and check a space file (YAML or JSON, by its content); SpaceError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpaceError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpaceError(f"{path}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    return parse_space(_parse_text(text, path), str(path))


def _parse_text(text: str, path: Path):
    import yaml  # JSON is YAML too; yaml's import is kept out of the CLI's --help
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpaceError(f"{path}: not valid YAML or JSON{where} ({getattr(err, 'problem', None) or 'parse error'})") from None


def parse_space(values, where: str = "search space") -> Space:
    """A Space from plain values (a parsed file, the page's form, a study's stored copy)."""
    def fail(message: str):
        raise SpaceError(f"{where}: {message}")

    if not isinstance(values, dict):
        fail("must be a mapping of preset, sampler, pruner, trials, options ...")
    unknown = sorted(set(values) - set(TOP_LEVEL))
    if unknown:
        fail(f"unknown field {unknown[0]!r} (fields: {', '.join(TOP_LEVEL)})")
    preset = values.get("preset", "fast")
    if preset not in PRESETS:
        fail(f"preset: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    sampler, pruner = values.get("sampler", "tpe"), values.get("pruner", "median")
    if sampler not in SAMPLERS:
        fail(f"sampler: {sampler!r} is not one of {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        fail(f"pruner: {pruner!r} is not one of {', '.join(PRUNERS)}")
    numbers = {key: _whole(values.get(key), key, fail, low) for key, low in
               (("trials", 1), ("seed", 0), ("startup_trials", 0), ("warmup_epochs", 0))}
    timeout = values.get("timeout_minutes")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        fail(f"timeout_minutes: {timeout!r} must be a number of minutes above 0")
    raw = values.get("options")
    if not isinstance(raw, dict) or not raw:
        fail("options: name the options to search (a mapping of option to list, range or value)")
    options = {name: _option(name, spec, fail) for name, spec in raw.items()}
    tuning = {key: numbers[key] for key in ("startup_trials", "warmup_epochs") if numbers[key] is not None}
    space = Space(preset, options, sampler, pruner, numbers["trials"], timeout, numbers["seed"], **tuning)
    if not space.searched:
        fail("options: nothing to search (every option is a single value; give a list or a range)")
    if sampler == "grid":
        ranges = [name for name in space.searched if isinstance(options[name], Range)]
        if ranges:
            fail(f"options.{ranges[0]}: the grid sampler takes lists of values, not ranges")
    _check_accepted(space, fail)
    return space


def _whole(value, key: str, fail, low: int):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        fail(f"{key}: {value!r} must be a whole number of at least {low}")
    return value


def _option(name, spec, fail):
    where = f"options.{name}"
    if name not in OPTION_TYPES:
        fail(f"{where}: unknown option (options: {', '.join(n for n in OPTION_TYPES if n not in NOT_SEARCHABLE)})")
    if name in ("folds", "fold"):
        fail(f"{where}: not searchable (a sweep's trials compare on one validation split)")
    if name in NOT_SEARCHABLE:
        fail(f"{where}: set by the sweep itself, not searchable")
    kind = OPTION_TYPES[name]
    if isinstance(spec, list):
        if not spec:
            fail(f"{where}: an empty list of choices")
        for value in spec:
            _check_kind(value, kind, f"{where}: choice {value!r}", fail)
        if len(set(map(json.dumps, spec))) < len(spec):
            fail(f"{where}: a choice is listed twice")
        return [float(v) if kind is float else v for v in spec]
    if isinstance(spec, dict):
        return _range(spec, kind, where, fail)
    _check_kind(spec, kind, where, fail)
    return float(spec) if kind is float else spec


def _range(spec: dict, kind: type, where: str, fail) -> Range:
    if kind not in (int, float):
        fail(f"{where}: a range needs a numeric option; give a list of choices")
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown or "low" not in spec or "high" not in spec:
        fail(f"{where}: a range is {{low, high}} with optional log and step"
             + (f" (unknown field {unknown[0]!r})" if unknown else ""))
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    for label, value in (("low", low), ("high", high)) + ((("step", step),) if step is not None else ()):
        _check_kind(value, kind, f"{where}.{label}", fail)
    if not isinstance(log, bool):
        fail(f"{where}.log: {log!r} must be true or false")
    if low >= high:
        fail(f"{where}: an empty or reversed range (low {low} is not below high {high})")
    if log and low <= 0:
        fail(f"{where}: a log range needs low above 0, got {low}")
    if step is not None and (step <= 0 or (log and kind is float)):
        fail(f"{where}.step: " + ("a log range takes no step" if log else f"{step} must be above 0"))
    if step is not None and log and kind is int and step != 1:
        fail(f"{where}.step: a log range of whole numbers takes step 1 only")
    return Range(float(low) if kind is float else low, float(high) if kind is float else high, log, step)


def _check_kind(value, kind: type, where: str, fail) -> None:
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        expected = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[kind]
        fail(f"{where}: {value!r} is not {expected}")


def _check_accepted(space: Space, fail) -> None:
    """Every choice and both ends of every range must be a value its option accepts (with the
    preset and the fixed values around it): refused now, not as 24 failed trials later."""
    fixed = space.fixed
    try:
        make_config(space.preset, **fixed)
    except ConfigError as err:
        fail(f"options: the fixed values are refused: {err}")
    for name in space.searched:
        spec = space.options[name]
        for value in spec if isinstance(spec, list) else (spec.low, spec.high):
            value = int(value) if OPTION_TYPES[name] is int else value
            try:
                make_config(space.preset, **{**fixed, name: value})
            except ConfigError as err:
                fail(f"options.{name}: {value!r} is refused: {err}")
    # options that limit each other (warmup under epochs, pretrain with init ...): the corners
    # where every searched option is at its first or its last value together
    for corner in (0, -1):
        values = {name: _end(space.options[name], corner) for name in space.searched}
        try:
            make_config(space.preset, **{**fixed, **values})
        except ConfigError as err:
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            fail(f"options: the {'first' if corner == 0 else 'last'} values together ({shown}) are refused: {err}")


def _end(spec, corner: int):
    if isinstance(spec, list):
        return spec[corner]
    value = spec.low if corner == 0 else spec.high
    return int(value) if float(value).is_integer() and not isinstance(value, float) else value


# -- the Sweep page's form ---------------------------------------------------------------------------
KINDS = ("range", "log range", "choices", "fixed")
STARTER_ROWS = [  # what the page's editor starts with: the options people search first
    {"option": "lr", "kind": "log range", "low": 1e-4, "high": 1e-2, "values": ""},
    {"option": "weight_decay", "kind": "log range", "low": 1e-5, "high": 1e-2, "values": ""},
    {"option": "augment", "kind": "range", "low": 0.0, "high": 1.0, "values": ""},
    {"option": "image_size", "kind": "choices", "low": None, "high": None, "values": "24, 32, 40"},
    {"option": "epochs", "kind": "fixed", "low": None, "high": None, "values": "10"},
]


def options_from_rows(rows: list[dict]) -> dict:
    """The `options` of a space from the page's table (option, kind, low, high, values): ranges
    from low and high, choices and fixed values from comma-separated text read by the option's
    type. Rows without an option are skipped; parse_space checks the result."""
    options = {}
    for number, row in enumerate(rows, 1):
        name = str(row.get("option") or "").strip()
        if not name:
            continue
        if name in options:
            raise SpaceError(f"row {number}: option {name!r} is listed twice")
        kind = row.get("kind") or "choices"
        if kind not in KINDS:
            raise SpaceError(f"row {number} ({name}): kind {kind!r} is not one of {', '.join(KINDS)}")
        if kind in ("range", "log range"):
            low, high = (_number(row.get(end), OPTION_TYPES.get(name, float), f"row {number} ({name}): {end}")
                         for end in ("low", "high"))
            options[name] = {"low": low, "high": high, "log": kind == "log range"}
            continue
        values = [_typed(text.strip(), OPTION_TYPES.get(name, str)) for text in str(row.get("values") or "").split(",")
                  if text.strip()]
        if not values:
            raise SpaceError(f"row {number} ({name}): give {'a value' if kind == 'fixed' else 'the choices'} in 'values'")
        if kind == "fixed" and len(values) > 1:
            raise SpaceError(f"row {number} ({name}): a fixed option takes one value, got {len(values)}")
        options[name] = values[0] if kind == "fixed" else values
    return options


def _number(value, kind: type, where: str):
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        raise SpaceError(f"{where}: missing")
    return int(value) if kind is int and float(value).is_integer() else float(value)


def _typed(text: str, kind: type):
    """A value typed on the page, as its option's type where it reads as one (else left as text
    for parse_space to refuse with the option's name)."""
    try:
        if kind is bool:
            return {"true": True, "false": False, "yes": True, "no": False}.get(text.lower(), text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        return text
    return text
