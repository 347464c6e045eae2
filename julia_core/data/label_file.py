"""Read and write the competition's `ID,Class` CSV files (trainLabels.csv, submissions)."""
import csv
import io
from pathlib import Path

from julia_core.errors import DataError
from julia_core.files import write_atomic
from julia_core.data.classes import is_class

HEADER = ("ID", "Class")


def read_labels(path: Path) -> dict[int, str]:
    """IDs to class names in file order. Accepts CRLF or LF, a UTF-8 BOM, blank lines and
    spaces around fields; anything else wrong is a DataError naming the line."""
    path = Path(path)
    text = _read_text(path)
    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
            if any(field.strip() for field in row)]
    if not rows:
        raise DataError(f"{path}: file is empty (expected the header 'ID,Class')")
    _check_header(path, rows[0][1])
    labels: dict[int, str] = {}
    first_line: dict[int, int] = {}
    for number, row in rows[1:]:
        fields = [field.strip() for field in row]
        if len(fields) != 2:
            raise DataError(f"{path} line {number}: expected 2 fields 'ID,Class', found {len(fields)}")
        id_text, name = fields
        if not id_text.isdigit():
            raise DataError(f"{path} line {number}: ID {id_text!r} is not a whole number")
        image_id = int(id_text)
        if not is_class(name):
            raise DataError(f"{path} line {number}: unknown class {name!r} for ID {image_id} "
                            "(expected one character of a-z, A-Z, 0-9)")
        if image_id in labels:
            raise DataError(f"{path} line {number}: duplicate ID {image_id} "
                            f"(first on line {first_line[image_id]})")
        labels[image_id] = name
        first_line[image_id] = number
    if not labels:
        raise DataError(f"{path}: has a header but no rows")
    return labels


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: is not a file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def _check_header(path: Path, row: list[str]) -> None:
    fields = tuple(field.strip() for field in row)
    if tuple(f.lower() for f in fields) == tuple(h.lower() for h in HEADER):
        return
    found = ",".join(row)
    hint = ""
    for name, delimiter in (("semicolons", ";"), ("tabs", "\t"), ("spaces", " ")):
        if len(fields) == 1 and delimiter in fields[0]:
            hint = f"; fields look separated by {name}, expected commas"
            break
    raise DataError(f"{path} line 1: header must be 'ID,Class', found {found!r}{hint}")


def write_labels(path: Path, labels: dict[int, str], replace: bool = True) -> None:
    """Write `ID,Class` rows, CRLF-terminated like Kaggle's own files; atomically, so a reader
    (or a full disk) never leaves half a submission."""
    lines = [",".join(HEADER)] + [f"{image_id},{name}" for image_id, name in labels.items()]
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    write_atomic(Path(path), lambda file: file.write(data), replace)
