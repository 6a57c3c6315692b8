"""The view ``fibonacci``: the Nth Fibonacci number, computed in the background."""

from decimal import Decimal
from netsight.asynchronous import BaseAsyncView

import re
import time


class Fibonacci(BaseAsyncView):
    """Asks for N (GET); a POST computes F(N) in the background."""

    #: The largest N the form accepts.
    max_n = 100_000
    #: Seconds to sleep at each percent of progress, so that there is
    #: something to watch: N >= 100 takes about 100 * pace seconds.
    pace = 0.07

    error = None

    def run_process(self):
        """Start only for a POST with a valid N; otherwise show the form again."""
        if not super().run_process():
            return False
        self.error = self.validate(self.request.form.get("n"))[1]
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

    def title(self):
        """What the processing page calls the job: "Computing F(2000)"."""
        n = self.validate(self.request.form.get("n"))[0]
        return None if n is None else f"Computing F({n})"

    def __run__(self, process_id, n):
        n = self.validate(n)[0]
        a, b = 0, 1
        reported = 0
        for i in range(1, n + 1):
            a, b = b, a + b
            percent = i * 100 // n
            if percent > reported:
                reported = percent
                self.set_progress(process_id, percent)
                self.pause()
        # str() refuses ints of more than 4300 digits (sys.int_info); Decimal does not.
        number = str(Decimal(a))
        return self.__call__(no_process=True, n=n, number=number, digits=len(number))

    def pause(self):
        time.sleep(self.pace)
