"""The settings as the README and docs/deployment.rst give them: every one, with its default."""

from netsight.asynchronous import settings
from pathlib import Path

import os
import re
import unittest


TOP = Path(__file__).resolve().parents[4]
README = TOP / "README.rst"
DEPLOYMENT = TOP / "docs" / "deployment.rst"
BLOCK = re.compile(r"<product-config netsight\.async>\n(.*?)\n\s*</product-config>", re.DOTALL)


def defaults_block(path):
    """The first ``<product-config netsight.async>`` block of ``path``: {name: value as written}."""
    block = BLOCK.search(path.read_text()).group(1)
    pairs = (line.strip().partition(" ") for line in block.splitlines() if line.strip())
    return {name: value.strip() for name, _, value in pairs}


def without_environment(test):
    """No NETSIGHT_ASYNC_* variable for the rest of ``test`` (a layer may set some)."""
    def ours():
        return {key: value for key, value in os.environ.items() if key.startswith(settings.ENVIRONMENT_PREFIX)}

    def restore():
        for key in ours():
            del os.environ[key]
        os.environ.update(saved)

    saved = ours()
    for key in saved:
        del os.environ[key]
    test.addCleanup(restore)


@unittest.skipUnless(README.exists() and DEPLOYMENT.exists(), "a source checkout (README.rst, docs/)")
class TestSettingsAsDocumented(unittest.TestCase):
    def setUp(self):
        without_environment(self)

    def test_the_readme_lists_every_setting_with_its_default(self):
        written = defaults_block(README)
        self.assertEqual(sorted(written), sorted(settings.DEFAULTS))
        for name, value in written.items():
            default = settings.instance_value(name)
            kind = settings.DEFAULTS[name][1]
            self.assertEqual(kind(value) if value else "", default, f"README: {name} {value!r}, default {default!r}")

    def test_deployment_names_every_setting(self):
        text = DEPLOYMENT.read_text()
        missing = [name for name in settings.DEFAULTS if f"``{name}``" not in text and f"  {name} " not in text]
        self.assertEqual(missing, [])

    def test_the_visitors_queue_stays_bounded_when_the_users_queue_is_not(self):
        os.environ[settings.ENVIRONMENT_PREFIX + "QUEUE_LIMIT"] = "0"
        self.assertEqual(settings.instance_value("anonymous-queue-limit"), 10)
        os.environ[settings.ENVIRONMENT_PREFIX + "QUEUE_LIMIT"] = "7"
        self.assertEqual(settings.instance_value("anonymous-queue-limit"), 3)
        os.environ[settings.ENVIRONMENT_PREFIX + "QUEUE_LIMIT"] = "1"
        self.assertEqual(settings.instance_value("anonymous-queue-limit"), 1)

    def test_a_number_that_is_not_finite_is_the_default(self):
        """``nan`` passes no comparison with a minimum, and made every processing page a 500."""
        for raw in ("nan", "inf", "-inf", "NaN"):
            with self.subTest(raw=raw):
                os.environ[settings.ENVIRONMENT_PREFIX + "POLL_INTERVAL"] = raw
                os.environ[settings.ENVIRONMENT_PREFIX + "HEARTBEAT_TIMEOUT"] = raw
                self.assertEqual(settings.instance_value("poll-interval"), 5)
                self.assertEqual(settings.instance_value("heartbeat-timeout"), 60.0)


class TestSettingValues(unittest.TestCase):
    """What a value out of bounds reads as (in an installed copy too)."""

    def setUp(self):
        without_environment(self)
        settings._WARNED.clear()  # what an earlier test said, said again
        self.addCleanup(settings._WARNED.clear)

    def test_more_than_a_century_of_seconds_is_a_century_said_once(self):
        os.environ[settings.ENVIRONMENT_PREFIX + "EXPIRY"] = "1e12"
        with self.assertLogs("netsight.async", "WARNING") as logs:
            for _read in range(3):  # each request, each pass of the maintenance thread
                self.assertEqual(settings.instance_value("expiry"), 100 * 365 * 86400)
        self.assertEqual(logs.output, ["WARNING:netsight.async:netsight.async: expiry = '1e12' is above a century of "
                                       "seconds; using 3153600000.0"])
        os.environ[settings.ENVIRONMENT_PREFIX + "EXPIRY"] = str(100 * 365 * 86400)  # a century: taken as it is
        with self.assertNoLogs("netsight.async", "WARNING"):
            self.assertEqual(settings.instance_value("expiry"), 100 * 365 * 86400)

    def test_a_heartbeat_interval_over_a_third_of_the_timeout_is_said_once(self):
        """It was logged at every beat: twice every 5 s on a busy worker."""
        from netsight.asynchronous import maintenance

        os.environ[settings.ENVIRONMENT_PREFIX + "HEARTBEAT_TIMEOUT"] = "15"
        with self.assertLogs("netsight.async", "WARNING") as logs:
            for _beat in range(3):
                self.assertEqual(maintenance.heartbeat_interval(), 5.0)
        self.assertEqual(logs.output, ["WARNING:netsight.async:netsight.async: heartbeat-interval 10.0 is over a third "
                                       "of heartbeat-timeout 15.0; using 5.0"])
