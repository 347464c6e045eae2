"""What a user says about a run: its tags, its note, whether it is archived (record.json), and
deleting it.

record.json is written only by a user's action (Monitor, `runs tag | note | archive | restore`),
never by a trainer, so a run that is training can be tagged. Each change is a read-merge-write
under the run's status lock with an atomic rename, like status.json: two edits at once (two
browser tabs, the CLI and a page) never lose each other's change. A damaged record.json does not
damage the run: the listing shows the run without tags, names the file, and the next edit writes
a fresh one.

An archived run is hidden from the default lists (every page's run filter and the CLI's `runs`)
and keeps every file; restoring it brings it back. Deleting removes the folder, after a rename to
a hidden name so that no reader sees half a run; a queued or running run is refused (stop it
first), decided under the same lock the trainer claims its run with.
"""
import re
import secrets
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from julia_core.errors import RunDamaged, RunError
from julia_core.runs.status import ACTIVE, now
from julia_core.runs.store import RunDir, read_json, write_json

RECORD_FILE = "record.json"
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+=-]{0,39}$")  # no spaces or commas: tags are typed in lists
MAX_TAGS = 20
MAX_NOTE = 5000  # characters: a paragraph or two, not a lab notebook


@dataclass(frozen=True)
class Record:
    tags: tuple[str, ...] = ()
    note: str = ""
    archived: str = ""  # when it was archived (ISO time); empty while it is in the default lists

    def to_dict(self) -> dict:
        return {"tags": list(self.tags), "note": self.note, "archived": self.archived}

    @classmethod
    def from_dict(cls, values, where: str) -> "Record":
        if not isinstance(values, dict):
            raise RunDamaged(f"{where}: not an object of tags, note and archived")
        tags, note, archived = values.get("tags", []), values.get("note", ""), values.get("archived", "")
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise RunDamaged(f"{where}: 'tags' must be a list of text")
        if not isinstance(note, str) or not isinstance(archived, str):
            raise RunDamaged(f"{where}: 'note' and 'archived' must be text")
        return cls(tuple(tags), note, archived)


def record_file(run_dir: RunDir) -> Path:
    return run_dir / RECORD_FILE


def read_record(run_dir: RunDir) -> Record:
    """The run's record; an empty one when it has none yet, RunDamaged when the file is broken."""
    path = record_file(run_dir)
    if not path.exists():
        return Record()
    return Record.from_dict(read_json(path), str(path))


def check_tag(tag: str) -> str:
    tag = tag.strip()
    if not TAG.match(tag):
        raise RunError(f"tag {tag!r}: 1-40 letters, digits or . _ : + = - (starting with a letter or digit), "
                       "no spaces or commas")
    return tag


def tag(run_dir: RunDir, add: list[str] = (), remove: list[str] = ()) -> Record:
    """Add and remove tags (in the order given, each once); returns the record as written."""
    return edit(run_dir, add, remove)


def edit(run_dir: RunDir, add: list[str] = (), remove: list[str] = (), note: str | None = None) -> Record:
    """Monitor's form in one change: the tags added and taken off there (not the whole list as
    the page saw it, so a tag added meanwhile elsewhere stays) and the note, when given."""
    add, remove = [check_tag(t) for t in add], {t.strip() for t in remove}
    note = None if note is None else _checked_note(note)

    def change(record: Record) -> Record:
        record = replace(record, tags=_tags(record.tags, add, remove))
        return record if note is None else replace(record, note=note)
    return _change(run_dir, change)


def _tags(current: tuple, add: list, remove: set) -> tuple:
    tags = tuple(dict.fromkeys([t for t in current if t not in remove] + add))
    if len(tags) > MAX_TAGS:
        raise RunError(f"at most {MAX_TAGS} tags per run, this would make {len(tags)}")
    return tags


def set_note(run_dir: RunDir, note: str) -> Record:
    return edit(run_dir, note=note)


def _checked_note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise RunError(f"a note holds at most {MAX_NOTE} characters, this one has {len(note)}")
    return note


def archive(run_dir: RunDir) -> Record:
    """Hide the run from the default lists; its files stay. Archiving twice keeps the first time.
    A queued or running run is refused: it would vanish from the lists while it trains."""
    def change(record: Record) -> Record:
        _refuse_active(run_dir, "archive")
        return record if record.archived else replace(record, archived=now())
    return _change(run_dir, change)


def restore(run_dir: RunDir) -> Record:
    return _change(run_dir, lambda record: replace(record, archived=""))


def _change(run_dir: RunDir, change) -> Record:
    with run_dir.status_lock():  # RunError when the folder is gone
        try:
            current = read_record(run_dir)
        except RunDamaged:
            current = Record()  # a broken record is replaced by the edit, as the listing said
        updated = change(current)
        write_json(record_file(run_dir), updated.to_dict())
    return updated


def delete(run_dir: RunDir) -> None:
    """Remove the run's folder. A queued or running run is refused in one line; the check and the
    rename that takes the run out of every listing happen under the lock a trainer claims with."""
    with run_dir.status_lock():
        _refuse_active(run_dir, "delete")
        doomed = run_dir.path.with_name(f".deleted-{run_dir.name}-{secrets.token_hex(4)}")  # hidden: listings skip it
        run_dir.path.rename(doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def check_editable(run_dir: RunDir, action: str) -> None:
    """Whether `action` (archive, delete) would be refused, asked before changing any of several
    runs (a CLI call with many); the change itself checks again under the lock."""
    if action in ("archive", "delete"):
        _refuse_active(run_dir, action)


def _refuse_active(run_dir: RunDir, action: str) -> None:
    try:
        state = run_dir.read_status().state
    except RunDamaged:
        return  # a damaged run can be archived or deleted: that is often why
    if state in ACTIVE:
        raise RunError(f"{run_dir.name} is {state}: stop it first (python -m julia_core stop {run_dir.name}), "
                       f"then {action} it")
