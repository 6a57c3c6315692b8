"""A maintenance that fails: an error with its traceback in the log, and its time and count on the control panel."""

from netsight.asynchronous.instanceid import instance_id
from netsight.asynchronous.maintenance import MAINTENANCE
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import setting
from netsight.asynchronous.tests.helpers.base import wait_until

import logging
import lxml.html
import re
import uuid


class BrokenClaims(Exception):
    """What the claims of these tests raise."""


def broken_claimer(token):
    """A claim of queued jobs with a bug: it raises, as a claim with a bug would (``token``: which test's)."""

    def claim_queued(db):
        raise BrokenClaims(f"the claim's bug {token}")

    return claim_queued


class Records(logging.Handler):
    """The records that the ``netsight.async`` logger gives, kept."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


class TestMaintenanceErrors(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.panel_url = f"{self.site_url}/@@netsight-async-controlpanel"
        self.log = Records()
        logger = logging.getLogger("netsight.async")
        logger.addHandler(self.log)
        self.addCleanup(logger.removeHandler, self.log)
        self.manager = owner_browser(self.app, self.site_url)

    def errors_section(self):
        """The control panel's "Maintenance errors", as a Manager reads it: (its text, the rows' texts)."""
        self.manager.open(self.panel_url)
        section = lxml.html.fromstring(self.manager.text).find_class("netsight-async-maintenance-errors")[0]
        rows = [" ".join(row.text_content().split()) for row in section.iter("tr")]
        return " ".join(section.text_content().split()), rows

    def test_without_a_failure_the_control_panel_says_so(self):
        text, rows = self.errors_section()
        self.assertIn("No instance sharing this database has had a maintenance error.", text)
        self.assertEqual(rows, [])

    def test_a_failing_claim_is_logged_as_an_error_and_shown_on_the_control_panel(self):
        # The claims of this instance, as startup.py registers them, are broken;
        # the timed claim comes every 0.05 s.
        setting(self, "claim-interval", 0.05)
        self.run_job("hello")  # the site uses the add-on: the registry, where a failure is written, exists
        self.addCleanup(setattr, MAINTENANCE, "claimer", MAINTENANCE.claimer)
        token = uuid.uuid4().hex  # a failure of its own: logged with its traceback, even in a repeated test
        MAINTENANCE.claimer = broken_claimer(token)
        MAINTENANCE.watch(self.app._p_jar.db())

        def shown():
            _text, rows = self.errors_section()
            return [row for row in rows if row.startswith(instance_id())]

        row = wait_until(shown, what="the control panel to show the maintenance error")[0]
        self.assertRegex(
            row,
            rf"^{re.escape(instance_id())} Last maintenance error at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
            rf"\(\d+ in all\) claiming queued jobs: BrokenClaims: the claim's bug {token}$",
        )
        self.assertNotIn("No instance sharing this database", self.errors_section()[0])
        errors = [
            record for record in self.log.records if record.levelno == logging.ERROR and "claiming" in record.getMessage()
        ]
        self.assertTrue(errors, "no error was logged")
        first = errors[0]
        self.assertEqual(first.getMessage(), "netsight.async: claiming queued jobs failed")
        self.assertIs(first.exc_info[0], BrokenClaims)
        traceback = logging.Formatter().formatException(first.exc_info)
        self.assertIn("in claim_queued", traceback)  # where it failed, for the operator
        self.assertIn(token, traceback)
        self.assertFalse([record for record in self.log.records if record.levelno == logging.DEBUG and "claim" in record.getMessage()])

