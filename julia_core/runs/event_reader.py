"""A run's TensorBoard scalars, read fast and incrementally from its event files.

tensorboard's EventAccumulator does a great deal of Python work per event (a pure-Python CRC of
every record, reservoirs, plugin bookkeeping): 50 runs of 10,000 points took it 6.8 s, where
Monitor needs well under one. This reader does only what scalars need, and most of it on whole
arrays: the TFRecord framing (a loop over the lengths only), the length checksums (CRC-32C of
every header at once), and the records a SummaryWriter writes for add_scalar, which all share one
layout (wall time, step, one value with a tag and a float), decoded field by field with numpy for
all records at once. Any other record (the file version, a SessionLog, hparams) goes through
protobuf's own parser, in order. Each event file is read from where the last read stopped; a
record not yet whole (a trainer writing) is read next time.

Its rules are the accumulator's, so the curves are the same (tests/test_event_reader.py compares
both on the trainer's own files): a SessionLog START at step S (a resumed run's new file, written
with purge_step) drops every point at step S or later; tags other than scalars are skipped. Where
it is stricter: a record whose length or data checksum fails ends the reading of that file, and
the reason is kept in `problem` (the accumulator skips some such damage in silence). Both
checksums are computed for all records of one length at once, column by column.
"""
import struct
from pathlib import Path

import numpy as np
from google.protobuf.message import DecodeError
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import CRC_TABLE, masked_crc32c

from julia_core.runs.store import RunDir

HEADER = 12      # uint64 length, uint32 masked CRC-32C of the length
FOOTER = 4       # uint32 masked CRC-32C of the data
_START = event_pb2.SessionLog.START
_TABLE = np.array(CRC_TABLE, dtype=np.uint32)


class _Series:
    """One tag's points, in growable arrays (amortised doubling: 10,000 appends, 14 copies)."""

    def __init__(self):
        self.steps = np.empty(64, np.int64)
        self.values = np.empty(64, np.float64)
        self.walls = np.empty(64, np.float64)
        self.size = 0

    def add(self, step: int, value: float, wall: float) -> None:
        self._reserve(self.size + 1)
        self.steps[self.size], self.values[self.size], self.walls[self.size] = step, value, wall
        self.size += 1

    def add_many(self, steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> None:
        need = self.size + len(steps)
        self._reserve(need)
        self.steps[self.size:need], self.values[self.size:need], self.walls[self.size:need] = steps, values, walls
        self.size = need

    def _reserve(self, need: int) -> None:
        if need <= len(self.steps):
            return
        capacity = max(need, 2 * len(self.steps))
        for name in ("steps", "values", "walls"):
            old = getattr(self, name)
            grown = np.empty(capacity, old.dtype)
            grown[:self.size] = old[:self.size]
            setattr(self, name, grown)

    def purge_from(self, step: int) -> None:
        keep = self.steps[:self.size] < step
        count = int(keep.sum())
        for name in ("steps", "values", "walls"):
            array = getattr(self, name)
            array[:count] = array[:self.size][keep]
        self.size = count


class EventReader:
    """reload() reads what the run's event files gained; scalars() and wall_times() give copies."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.offsets: dict[Path, int] = {}
        self.series: dict[str, _Series] = {}
        self.problem: str | None = None

    def reload(self) -> None:
        problems = []
        try:
            files = RunDir(self.run_dir).event_files()
        except OSError as err:
            self.problem = f"{self.run_dir.name}: its folder cannot be read ({err.strerror or err})"
            return
        for path in files:
            problem = self._read_file(path)
            if problem:
                problems.append(problem)
        self.problem = "; ".join(problems) or None

    def _read_file(self, path: Path) -> str | None:
        offset = self.offsets.get(path, 0)
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                data = file.read()
        except OSError as err:
            return f"{path.name}: cannot be read ({err.strerror or err})"
        used, problem = self._parse(data, path.name, offset)
        self.offsets[path] = offset + used
        return problem

    def _parse(self, data: bytes, name: str, offset: int) -> tuple[int, str | None]:
        """Records from data; (bytes used, a problem). A tail too short for its record is left."""
        starts, lengths, used = _frame(data)
        problem = None
        header_ok = _lengths_check(data, starts)
        data_ok = header_ok.copy()
        data_ok[header_ok] = _data_check(data, starts[header_ok], lengths[header_ok])
        bad = np.flatnonzero(~data_ok)
        if len(bad):  # keep what comes before the first damaged record
            first = int(bad[0])
            used = int(starts[first])
            what = "data" if header_ok[first] else "length"
            starts, lengths = starts[:first], lengths[:first]
            problem = f"{name}: damaged at byte {offset + used} ({what} checksum); read up to there"
        buffer = np.frombuffer(data, np.uint8)
        plain = _decode_scalars(buffer, starts + HEADER, lengths)
        segment = 0
        for index in [*np.flatnonzero(~plain.ok), len(starts)]:  # the other records, in order
            self._add(plain, segment, index)
            if index == len(starts):
                break
            begin = int(starts[index]) + HEADER
            try:
                event = event_pb2.Event.FromString(data[begin:begin + int(lengths[index])])
            except DecodeError:
                return int(starts[index]), f"{name}: a record at byte {offset + int(starts[index])} cannot be parsed; read up to there"
            self._add_event(event)
            segment = index + 1
        return used, problem

    def _add(self, plain: "_Decoded", start: int, stop: int) -> None:
        """The plain scalar records among records start..stop-1, per tag in their order."""
        if stop <= start:
            return
        for tag_id, tag in enumerate(plain.tags):
            chosen = np.flatnonzero(plain.ok[start:stop] & (plain.tag_ids[start:stop] == tag_id)) + start
            if len(chosen):
                self._series(tag).add_many(plain.steps[chosen], plain.values[chosen], plain.walls[chosen])

    def _add_event(self, event) -> None:
        if event.HasField("summary"):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    self._series(value.tag).add(event.step, value.simple_value, event.wall_time)
        elif event.HasField("session_log") and event.session_log.status == _START:
            for found in self.series.values():
                found.purge_from(event.step)

    def _series(self, tag: str) -> _Series:
        found = self.series.get(tag)
        if found is None:
            found = self.series[tag] = _Series()
        return found

    def scalars(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{tag: (steps, values)}, in the order they were written."""
        return {tag: (s.steps[:s.size].copy(), s.values[:s.size].copy()) for tag, s in self.series.items() if s.size}

    def wall_times(self) -> dict[str, np.ndarray]:
        return {tag: s.walls[:s.size].copy() for tag, s in self.series.items() if s.size}


# -- the framing and the decoding, on whole arrays ---------------------------------------------------
def _frame(data: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """(record starts, data lengths, bytes used by whole records): the one loop, over lengths only."""
    starts, lengths = [], []
    position, end, unpack = 0, len(data), struct.unpack_from
    while position + HEADER <= end:
        (length,) = unpack("<Q", data, position)
        if position + HEADER + length + FOOTER > end:
            break  # being written, or a damaged length (the checksum tells which)
        starts.append(position)
        lengths.append(length)
        position += HEADER + length + FOOTER
    if position + HEADER <= end and not _lengths_check(data, np.array([position]))[0]:
        starts.append(position)  # a damaged length that points past the end: reported, not waited for
        lengths.append(0)
    return np.array(starts, np.int64), np.array(lengths, np.int64), position


def _masked_crc(rows: np.ndarray) -> np.ndarray:
    """TFRecord's masked CRC-32C of each row of bytes (n, width), all rows at once."""
    crc = np.full(len(rows), 0xFFFFFFFF, np.uint32)
    for column in rows.T:
        crc = _TABLE[(crc ^ column) & 0xFF] ^ (crc >> np.uint32(8))
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)


def _stored(buffer: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return buffer[offsets[:, None] + np.arange(4)].copy().view("<u4")[:, 0]


def _lengths_check(data: bytes, starts: np.ndarray) -> np.ndarray:
    """Whether each record's masked CRC-32C of its 8 length bytes matches, all records at once."""
    if not len(starts):
        return np.zeros(0, bool)
    buffer = np.frombuffer(data, np.uint8)
    return _masked_crc(buffer[starts[:, None] + np.arange(8)]) == _stored(buffer, starts + 8)


LONG_RECORD = 512  # longer records (hparams, histograms) are checked one by one: they are few


def _data_check(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Whether each record's data matches its masked CRC-32C: the records of each length at once."""
    ok = np.zeros(len(starts), bool)
    if not len(starts):
        return ok
    buffer = np.frombuffer(data, np.uint8)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        begin = starts[rows] + HEADER
        stored = _stored(buffer, begin + length)
        if length <= LONG_RECORD:
            ok[rows] = _masked_crc(buffer[begin[:, None] + np.arange(length)]) == stored
        else:
            ok[rows] = [masked_crc32c(data[b:b + length]) == s for b, s in zip(begin.tolist(), stored.tolist())]
    return ok


class _Decoded:
    """The plain scalar records' fields (ok marks the records of that layout)."""

    def __init__(self, count: int):
        self.ok = np.zeros(count, bool)
        self.steps = np.zeros(count, np.int64)
        self.values = np.zeros(count, np.float64)
        self.walls = np.zeros(count, np.float64)
        self.tag_ids = np.full(count, -1, np.int64)
        self.tags: list[str] = []


def _decode_scalars(buffer: np.ndarray, begin: np.ndarray, lengths: np.ndarray) -> _Decoded:
    """Decode the records laid out as SummaryWriter.add_scalar writes them:

        09 <wall time, 8 bytes>  [10 <step varint>]  2a <n>  0a <n-2>  0a <t> <tag, t bytes>  15 <float, 4 bytes>

    (a step of 0 is left out, as protobuf leaves out defaults). Every other record is not ok."""
    decoded = _Decoded(len(begin))
    if not len(begin):
        return decoded
    padded = np.concatenate([buffer, np.zeros(1, np.uint8)])
    last = len(buffer)  # a zero of the padding: what any read past the data finds

    def at(offsets):
        return padded[np.minimum(offsets, last)]

    def run(offsets, count):  # count bytes from each offset
        return padded[np.minimum(offsets[:, None] + np.arange(count), last)]

    ok = (lengths >= 20) & (at(begin) == 0x09)
    walls = run(begin + 1, 8).copy().view("<f8")[:, 0]
    has_step = at(begin + 9) == 0x10
    varint = run(begin + 10, 10).astype(np.int64)
    more = (varint & 0x80) != 0
    width = np.where(more.all(1), 11, np.argmin(more, axis=1) + 1)  # bytes of the varint
    shifts = (np.arange(10) * 7)
    parts = (varint & 0x7F) << shifts
    steps = np.where(np.arange(10) < width[:, None], parts, 0).sum(1)
    ok &= ~has_step | (width <= 9)
    steps = np.where(has_step, steps, 0)
    summary = begin + 9 + np.where(has_step, 1 + width, 0)
    tag_length = at(summary + 5).astype(np.int64)
    ok &= (at(summary) == 0x2A) & (at(summary + 2) == 0x0A) & (at(summary + 4) == 0x0A) & (tag_length < 0x80)
    ok &= (at(summary + 1).astype(np.int64) == tag_length + 9) & (at(summary + 3).astype(np.int64) == tag_length + 7)
    ok &= at(summary + 6 + tag_length) == 0x15
    ok &= summary + 11 + tag_length == begin + lengths  # nothing else in the record
    values = run(summary + 7 + tag_length, 4).copy().view("<f4")[:, 0].astype(np.float64)
    decoded.ok, decoded.steps, decoded.values, decoded.walls = ok, steps, values, walls
    for length in np.unique(tag_length[ok]):
        rows = np.flatnonzero(ok & (tag_length == length))
        names = run(summary[rows] + 6, int(length))
        left = np.ones(len(rows), bool)
        while left.any():  # a few distinct tags per length: one comparison pass each
            first = int(np.argmax(left))
            same = left & (names == names[first]).all(1)
            left &= ~same
            try:
                tag = names[first].tobytes().decode("utf-8")
            except UnicodeDecodeError:
                decoded.ok[rows[same]] = False  # protobuf decides
                continue
            if tag not in decoded.tags:
                decoded.tags.append(tag)
            decoded.tag_ids[rows[same]] = decoded.tags.index(tag)
    return decoded
