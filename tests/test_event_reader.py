"""The fast event reader against tensorboard's own EventAccumulator: the same points from the
trainer's files, from odd records, after a resume's purge, while a file grows; damage named."""
import struct

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import SCALARS
from tensorboard.compat.proto import event_pb2, summary_pb2
from torch.utils.tensorboard import SummaryWriter

from julia_core.runs.event_reader import EventReader
from julia_core.runs.events import open_events


def accumulator_points(folder) -> dict:
    events = open_events(folder)
    events.Reload()
    return {tag: ([e.step for e in events.Scalars(tag)], [e.value for e in events.Scalars(tag)],
                  [e.wall_time for e in events.Scalars(tag)]) for tag in events.Tags()[SCALARS]}


def reader_points(folder) -> dict:
    reader = EventReader(folder)
    reader.reload()
    assert reader.problem is None, reader.problem
    walls = reader.wall_times()
    return {tag: (list(steps), list(values), list(walls[tag])) for tag, (steps, values) in reader.scalars().items()}


def record_starts(data) -> list[int]:
    """Where each TFRecord of an event file starts."""
    starts, position = [], 0
    while position < len(data):
        starts.append(position)
        position += 16 + struct.unpack_from("<Q", data, position)[0]
    return starts


def assert_same(folder):
    theirs, ours = accumulator_points(folder), reader_points(folder)
    assert set(ours) == set(theirs)
    for tag in theirs:
        assert ours[tag][0] == theirs[tag][0], tag
        assert np.allclose(ours[tag][1], theirs[tag][1], rtol=0, atol=0), tag
        assert np.allclose(ours[tag][2], theirs[tag][2], rtol=0, atol=0), tag


def test_the_trainers_own_files_read_the_same(demo_run):
    assert_same(demo_run[1])


def test_odd_records_read_the_same(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    # every varint width (1-10 bytes: a negative step takes 10), and step 0, which protobuf leaves out
    for step in (0, 1, 127, 128, 16_383, 16_384, 2 ** 21, 2 ** 28, 2 ** 35, 2 ** 42, 2 ** 49, 2 ** 56, 2 ** 62, -5):
        writer.add_scalar("wide/steps", step / 7, step)
    writer.add_scalar("é/ünïcode", 1.5, 3)
    writer.add_scalar("x" * 130, 2.5, 4)  # a tag longer than one varint byte: protobuf's path
    writer.add_scalars("pair", {"a": 1.0, "b": 2.0}, 5)  # subfolders, not this folder's records
    writer.add_text("note", "not a scalar", 1)
    writer.add_histogram("weights", np.arange(10), 1)
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="two/a", simple_value=1.0),
                                         summary_pb2.Summary.Value(tag="two/b", simple_value=2.0)])
    writer.file_writer.add_summary(summary, 6)  # two values in one record
    writer.add_scalar("two/a", 3.0, 7)
    writer.close()
    assert_same(tmp_path)
    assert reader_points(tmp_path)["wide/steps"][0][-2:] == [2 ** 62, -5]


def test_a_resumed_runs_purge_drops_the_orphaned_points(tmp_path):
    first = SummaryWriter(str(tmp_path))
    for step in range(100):
        first.add_scalar("train/loss_step", 1.0 / (step + 1), step)
    first.close()
    again = SummaryWriter(str(tmp_path), purge_step=60)  # as the trainer resumes from step 60
    for step in range(60, 80):
        again.add_scalar("train/loss_step", 5.0, step)
    again.close()
    assert_same(tmp_path)
    steps, values, _ = reader_points(tmp_path)["train/loss_step"]
    assert steps == list(range(80)) and values[60:] == [5.0] * 20


def test_a_purge_read_on_a_later_reload_drops_what_was_read_before(tmp_path):
    first = SummaryWriter(str(tmp_path))
    for step in range(100):
        first.add_scalar("loss", float(step), step)
    first.close()
    reader = EventReader(tmp_path)
    reader.reload()
    assert len(reader.scalars()["loss"][0]) == 100
    again = SummaryWriter(str(tmp_path), purge_step=40)
    again.add_scalar("loss", -1.0, 40)
    again.close()
    reader.reload()
    steps, values = reader.scalars()["loss"]
    assert list(steps) == list(range(41)) and values[-1] == -1.0
    assert_same(tmp_path)


def test_a_growing_file_is_read_from_where_it_stopped(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    for step in range(50):
        writer.add_scalar("loss", float(step), step)
    writer.flush()
    [path] = tmp_path.glob("events.out.tfevents.*")
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])  # a record half written
    reader = EventReader(tmp_path)
    reader.reload()
    assert reader.problem is None and len(reader.scalars()["loss"][0]) == 49
    path.write_bytes(whole)
    for step in range(50, 70):
        writer.add_scalar("loss", float(step), step)
    writer.close()
    reader.reload()
    assert list(reader.scalars()["loss"][0]) == list(range(70))


def read_with_a_bit_flipped(folder, record: int, where) -> tuple[EventReader, int]:
    """30 points written, one bit of record `record` flipped (at where(start, length)), read back."""
    writer = SummaryWriter(str(folder))
    for step in range(30):
        writer.add_scalar("loss", float(step), step)
    writer.close()
    [path] = folder.glob("events.out.tfevents.*")
    data = bytearray(path.read_bytes())
    start = record_starts(data)[record]
    data[where(start, struct.unpack_from("<Q", data, start)[0])] ^= 0x10
    path.write_bytes(bytes(data))
    reader = EventReader(folder)
    reader.reload()
    return reader, start


def test_damage_keeps_what_came_before_and_says_where(tmp_path):
    reader, start = read_with_a_bit_flipped(tmp_path, 20, lambda start, length: start)  # the length itself
    assert f"damaged at byte {start} (length checksum)" in reader.problem
    assert list(reader.scalars()["loss"][0]) == list(range(19))  # the file-version record, then 19 points


def test_a_flipped_bit_in_a_value_is_caught_by_the_data_checksum(tmp_path):
    reader, start = read_with_a_bit_flipped(tmp_path, 10, lambda start, length: start + 12 + length - 2)  # its float
    assert f"damaged at byte {start} (data checksum)" in reader.problem
    assert list(reader.scalars()["loss"][0]) == list(range(9))


def test_noise_is_named_not_taken_for_points(tmp_path):
    (tmp_path / "events.out.tfevents.1.host").write_bytes(b"\x13garbage" * 50)
    reader = EventReader(tmp_path)
    reader.reload()
    assert reader.scalars() == {} and "damaged at byte 0" in reader.problem


def test_a_record_that_does_not_parse_is_named(tmp_path):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    good = event_pb2.Event(step=1, wall_time=1.0, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag="loss", simple_value=1.0)])).SerializeToString()
    bad = b"\xff" * 12

    def record(data):
        header = struct.pack("<Q", len(data))
        return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))
    (tmp_path / "events.out.tfevents.1.host").write_bytes(record(good) + record(bad) + record(good))
    reader = EventReader(tmp_path)
    reader.reload()
    assert "cannot be parsed" in reader.problem and len(reader.scalars()["loss"][0]) == 1
