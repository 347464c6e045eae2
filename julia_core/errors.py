"""The one exception type that reaches the user: a single line naming the culprit."""


class JuliaError(Exception):
    """A problem the user can fix; the CLI prints it as one line, the dashboard with st.error."""


class DataError(JuliaError):
    """Bad data on disk: a CSV row, an image file, a folder."""


class TrainingFailed(JuliaError):
    """A reason a run cannot go on (NaN loss, out of memory); becomes its status's error."""
