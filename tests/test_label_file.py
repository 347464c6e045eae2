import pytest

from julia_core.errors import DataError
from julia_core.data.label_file import read_labels, write_labels


def write(tmp_path, data: bytes):
    path = tmp_path / "trainLabels.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("data", [
    b"ID,Class\r\n1,n\r\n2,8\r\n",                 # Kaggle: CRLF
    b"ID,Class\n1,n\n2,8\n",                        # LF
    b"\xef\xbb\xbfID,Class\r\n1,n\r\n2,8\r\n",     # UTF-8 BOM
    b"ID,Class\n1,n\n2,8\n\n\r\n\n",                # trailing blank lines
    b" ID , Class \n 1 , n\n2,8 \n",                # spaces around fields
    b"ID,Class\n1,n\n\n2,8",                        # blank line inside, no final newline
    b"id,class\n1,n\n2,8\n",                        # header case
])
def test_accepted_quirks(tmp_path, data):
    assert read_labels(write(tmp_path, data)) == {1: "n", 2: "8"}


def test_write_then_read_keeps_order(tmp_path):
    labels = {5: "Z", 1: "a", 3: "0"}
    path = tmp_path / "x.csv"
    write_labels(path, labels)
    assert path.read_bytes().startswith(b"ID,Class\r\n5,Z\r\n")
    assert list(read_labels(path).items()) == list(labels.items())


@pytest.mark.parametrize("data,message", [
    (b"", "file is empty"),
    (b"\n\n", "file is empty"),
    (b"ID,Class\r\n", "has a header but no rows"),
    (b"Id,Label\n1,a\n", "header must be 'ID,Class', found 'Id,Label'"),
    (b"ID;Class\n1;a\n", "separated by semicolons"),
    (b"ID\tClass\n1\ta\n", "separated by tabs"),
    (b"ID,Class\n1,a\n2,zero\n", "line 3: unknown class 'zero' for ID 2"),
    (b"ID,Class\n1,a\n2,\n", "line 3: unknown class '' for ID 2"),
    (b"ID,Class\n1,a\n1,b\n", "line 3: duplicate ID 1 (first on line 2)"),
    (b"ID,Class\nx7,a\n", "line 2: ID 'x7' is not a whole number"),
    (b"ID,Class\n-3,a\n", "line 2: ID '-3' is not a whole number"),
    (b"ID,Class\n1,a,extra\n", "line 2: expected 2 fields"),
    (b"ID,Class\n1,\xe9\n", "not UTF-8 text (byte 0xe9 at offset 11)"),
])
def test_errors_name_file_and_line(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(DataError) as caught:
        read_labels(path)
    text = str(caught.value)
    assert message in text and str(path) in text and "\n" not in text


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="trainLabels.csv: file not found"):
        read_labels(tmp_path / "trainLabels.csv")


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "trainLabels.csv").mkdir()
    with pytest.raises(DataError, match="is not a file"):
        read_labels(tmp_path / "trainLabels.csv")
