import pytest

from julia_core.data.classes import CLASSES, NUM_CLASSES, class_index, class_name, is_class


def test_order_is_lower_upper_digits():
    assert NUM_CLASSES == 62
    assert CLASSES[:3] == "abc" and CLASSES[26:29] == "ABC" and CLASSES[52:] == "0123456789"


@pytest.mark.parametrize("name,index", [("a", 0), ("z", 25), ("A", 26), ("Z", 51), ("0", 52), ("9", 61)])
def test_round_trip(name, index):
    assert class_index(name) == index
    assert class_name(index) == name


def test_every_index_round_trips():
    assert [class_index(class_name(i)) for i in range(62)] == list(range(62))


@pytest.mark.parametrize("bad", ["", "aa", "zero", " ", "é", "-"])
def test_unknown_names(bad):
    assert not is_class(bad)
    with pytest.raises(KeyError):
        class_index(bad)


@pytest.mark.parametrize("bad", [-1, 62, 100])
def test_index_out_of_range(bad):
    with pytest.raises(IndexError):
        class_name(bad)
