"""The 62 classes of the competition, in the order a-z, A-Z, 0-9, mapped to 0..61."""
import string

CLASSES = string.ascii_lowercase + string.ascii_uppercase + string.digits
NUM_CLASSES = len(CLASSES)
_INDEX = {name: i for i, name in enumerate(CLASSES)}


def is_class(name: str) -> bool:
    return name in _INDEX


def class_index(name: str) -> int:
    """'a' -> 0, 'A' -> 26, '0' -> 52. Raises KeyError for anything else."""
    return _INDEX[name]


def class_name(index: int) -> str:
    """0 -> 'a'. Raises IndexError outside 0..61."""
    if not 0 <= index < NUM_CLASSES:
        raise IndexError(f"class index {index} is outside 0..{NUM_CLASSES - 1}")
    return CLASSES[index]
