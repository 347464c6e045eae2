"""The one exception type that reaches the user: a single line naming the culprit."""


class JuliaError(Exception):
    """A problem the user can fix; the CLI prints it as one line, the dashboard with st.error."""


class DataError(JuliaError):
    """Bad data on disk: a CSV row, an image file, a folder."""


class RunError(JuliaError):
    """A run that is missing or in the wrong state for what was asked."""


class RunDamaged(RunError):
    """A file of a run that cannot be read as what it should be; one line naming the file."""


class TrainingFailed(JuliaError):
    """A reason a run cannot go on (NaN loss, out of memory); becomes its status's error."""


# What a user's action can meet that is the input's or the disk's doing, not a bug in the tool
# (a permission, a full disk, a vanished folder): shown as one line by the CLI and the pages.
EXPECTED_ERRORS = (JuliaError, OSError)


def one_line(err: BaseException) -> str:
    """The message to show for one of EXPECTED_ERRORS, naming the file where there is one."""
    if isinstance(err, OSError) and not isinstance(err, JuliaError):
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        return f"{where}{err.strerror or err}"
    return str(err)
