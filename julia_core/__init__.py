"""Everything the Julia dashboard decides: data, models, training, runs, evaluation, submission."""
from julia_core.errors import DataError, JuliaError
from julia_core.data.classes import CLASSES, NUM_CLASSES, class_index, class_name

__all__ = ["CLASSES", "NUM_CLASSES", "DataError", "JuliaError", "class_index", "class_name"]
