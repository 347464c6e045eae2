"""Stop requests (SIGTERM from the dashboard's Stop, SIGINT from Ctrl-C) as a flag the loop reads.

Its own module, free of torch, so the trainer process can install it before its slow imports:
a Stop in the first seconds of a run is then a request the run honours ('stopped'), not the
default handler's silent death ('failed' at the next listing)."""
import signal
import threading


class StopFlag:
    """Set by SIGTERM or SIGINT; the loop finishes its step, saves and leaves."""
    requested = False

    @classmethod
    def install(cls) -> dict:
        """Install the handlers (main thread only); returns the previous ones to restore. A request
        that arrived under an earlier install (the CLI's, before the imports) still stands."""
        def handler(signum, frame):
            cls.requested = True
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}

    @classmethod
    def restore(cls, previous: dict) -> None:
        """The previous handlers back; the request, if any, was this run's and is spent."""
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        cls.requested = False
