"""The views ``fibonacci``, ``fibonacci-kept``, ``fibonacci-mail`` and ``fibonacci-later``: the Nth Fibonacci number, computed in the background."""

from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from netsight.asynchronous import BaseAsyncView

import re
import time


class DemoFailure(RuntimeError):
    """The failure the form's "make it fail" asks for."""


class Fibonacci(BaseAsyncView):
    """Asks for N, how long to take and whether to fail (GET); a POST computes F(N) in the background."""

    #: The largest N the form accepts.
    max_n = 100_000
    #: How long the job takes unless the form says (its field "seconds"),
    #: and the longest it may: it sleeps after each percent of progress, so
    #: that there is something to watch.
    default_seconds = 7
    max_seconds = 600
    #: What the form says of this view, beside the plain ``fibonacci``.
    variant = None
    #: Whether the form asks when to start (its field "delay": ``fibonacci-later``).
    asks_delay = False

    error = None

    def run_process(self):
        """Start only for a POST with a valid N and length; otherwise show the form again."""
        if not super().run_process():
            return False
        form = self.request.form
        self.error = (
            self.validate(form.get("n"))[1]
            or self.validate_seconds(form.get("seconds"))[1]
            or (self.validate_delay(form.get("delay"))[1] if self.asks_delay else None)
        )
        return self.error is None

    def validate(self, value):
        """``(n, None)`` for a valid N, else ``(None, error message)``."""
        text = str(value or "").strip()
        try:
            n = int(text)
        except ValueError:
            if re.fullmatch(r"\+?[0-9]+", text):  # too many digits for int()
                return None, f"N is too big: it must be at most {self.max_n}."
            return None, f"N must be a whole number from 0 to {self.max_n}, such as 2000."
        if n < 0:
            return None, "N must not be negative."
        if n > self.max_n:
            return None, f"N is too big: it must be at most {self.max_n}."
        return n, None

    def validate_seconds(self, value):
        """``(seconds, None)`` for a valid length (empty: the default), else ``(None, error message)``."""
        text = str(value if value is not None else "").strip()
        if not text:
            return self.default_seconds, None
        try:
            seconds = float(text)
        except ValueError:
            seconds = None
        if seconds is None or not 0 <= seconds <= self.max_seconds:  # NaN too
            return None, f"The length must be a number of seconds from 0 to {self.max_seconds}."
        return seconds, None

    def validate_delay(self, value):
        """``(seconds, None)`` for a valid "start in" (empty: 0, now), else ``(None, error message)``."""
        text = str(value if value is not None else "").strip()
        if not text:
            return 0, None
        try:
            seconds = int(text)
        except ValueError:
            seconds = None
        if seconds is None or not 0 <= seconds <= 3600:
            return None, "Start in must be a whole number of seconds from 0 to 3600."
        return seconds, None

    def title(self):
        """What the processing page calls the job: "Computing F(2000)"."""
        n = self.validate(self.request.form.get("n"))[0]
        return None if n is None else f"Computing F({n})"

    def __run__(self, process_id, n, seconds="", fail=""):
        n = self.validate(n)[0]
        steps = min(n, 100)  # progress reports, one per percent (fewer for a small N)
        self.pace = self.validate_seconds(seconds)[0] / steps if steps else 0
        a, b = 0, 1
        reported = 0
        for i in range(1, n + 1):
            a, b = b, a + b
            percent = i * 100 // n
            if percent > reported:
                if fail and percent > 50:
                    raise DemoFailure(f"F({n}) failed half-way, as the form asked.")
                reported = percent
                self.set_progress(process_id, percent)
                self.pause()
        if fail:  # F(0), F(1): no half-way to fail at
            raise DemoFailure(f"F({n}) failed, as the form asked.")
        # str() refuses ints of more than 4300 digits (sys.int_info); Decimal does not.
        number = str(Decimal(a))
        return self.__call__(no_process=True, n=n, number=number, digits=len(number))

    def pause(self):
        """Sleep for one percent of the job's length (``self.pace``, set by ``__run__``)."""
        time.sleep(self.pace)


class FibonacciKept(Fibonacci):
    """The same, whose result its owner may open again for an hour after it was first shown."""

    keep_result = 3600
    variant = "Its result stays for an hour after it was first shown: My processes links to it."


class FibonacciMailed(Fibonacci):
    """The same, which mails its owner (a member with an e-mail address) when it is done unwatched."""

    notify = "mail"
    variant = (
        "When it is done and no page of yours watches it, you get a mail with the link to its result "
        "(a member with an e-mail address, on a site with a sender address and a mail server)."
    )


class FibonacciLater(Fibonacci):
    """The same, started later and retried: it waits the form's "start in" seconds (*scheduled*), and a failure
    is tried again twice before its page offers a Retry button."""

    asks_delay = True
    retry_on = (DemoFailure,)  # "Make it fail" fails every attempt: watch the two retries, then press Retry
    max_retries = 2
    retry_backoff = 5.0  # the second attempt 2.5 to 5 s after the first failed, the third 5 to 10 s after the second (jitter)
    may_retry = True
    variant = (
        "It starts when “Start in” says (scheduled until then: you may cancel it meanwhile); "
        "a failure is tried again twice, up to 5 and then up to 10 seconds later, and then its page offers Retry."
    )

    def run_after(self):
        """Now plus the form's "start in" seconds; None (now) for 0."""
        delay = self.validate_delay(self.request.form.get("delay"))[0]
        return datetime.now() + timedelta(seconds=delay) if delay else None
