"""What the notice of a waiting result costs a page: the site's front page with and without the viewlet.

    .venv/bin/python bench/notices.py [--pages 200] [--processes 200]

It sets up the functional test layer in this process (a Plone site on a
DemoStorage) and gives the test user ``--processes`` processes of the site
(written directly through the registry's API, as if jobs had ended: every
tenth done with its result waiting, the others failed), then publishes the
front page ``--pages`` times as that user (its notices on it), with the
viewlet switched off in the site (plone.app.viewletmanager's hidden
viewlets, as Site Setup's @@manage-viewlets does) and on again, in turns of
20 (fewer for fewer than 40 pages; at least one page each way) so that
both see the same machine. It prints the median and p90 of a
page's time each way, and of ``notices.ready`` alone (the viewlet's
lookup, called directly).
"""

from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.viewletmanager.interfaces import IViewletSettingsStorage
from zope.component import getUtility

from netsight.asynchronous import registry
from netsight.asynchronous.browser import notices
from netsight.asynchronous.replay import CapturedResponse
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.chromium import layer_set_up

import argparse
import os
import statistics
import time
import transaction


MANAGER = "plone.globalstatusmessage"
TURN = 20  # pages in a row each way


def fill(db, site, count):
    """``count`` ended processes of the test user in ``site``: every tenth done, its result waiting."""
    response = CapturedResponse(200, "OK", {}, [], {}, b"result")

    def add(root):
        for number in range(count):
            record = registry.ProcessRecord(
                registry.new_process_id(), "hello", site, TEST_USER_ID, site=site
            )
            registry.add(root._p_jar, record, "bench", number)
            registry.change_in(root, record.process_id, lambda r: r.start("bench"))
            if number % 10 == 0:
                registry.change_in(root, record.process_id, lambda r: r.finish(response))
            else:
                registry.change_in(root, record.process_id, lambda r: r.fail("bench"))

    registry.in_own_transaction(db, add)


def turns(pages):
    """The pages of each turn, ways alternating (without the viewlet first):
    ``pages`` in all, in turns of ``TURN`` (shorter while ``pages`` is under
    ``2 * TURN``), at least one page each way."""
    pages = max(pages, 2)
    turn = max(1, min(TURN, pages // 2))
    counts = [turn] * (pages // turn)
    if pages % turn:
        counts.append(pages % turn)
    return counts


def at_least_one(text):
    """An argparse type: a whole number, 1 or more."""
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is not 1 or more")
    return number


def quantiles(times):
    times = sorted(times)
    return statistics.median(times) * 1000, times[int(len(times) * 0.9)] * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=at_least_one, default=200, help="front pages in all, half each way (at least one each)")
    parser.add_argument("--processes", type=int, default=200)
    options = parser.parse_args()
    os.environ["NETSIGHT_ASYNC_POLL_INTERVAL"] = "1"  # notices 2 s after the end
    with layer_set_up(NETSIGHT_ASYNC_FUNCTIONAL_TESTING) as layer:
        app, portal = layer["app"], layer["portal"]
        site = "/".join(portal.getPhysicalPath())
        fill(app._p_jar.db(), site, options.processes)
        transaction.commit()
        time.sleep(2.5)  # past the notices' grace (twice the poll interval)
        browser = JobBrowser(app, portal.absolute_url(), TEST_USER_NAME)
        storage = getUtility(IViewletSettingsStorage, context=portal)
        skin = portal.getCurrentSkinName()
        browser.open(portal.absolute_url())  # warm up: templates, caches
        shown = browser.text.count("netsight-async-notice")
        times = {"with": [], "without": []}
        for turn, count in enumerate(turns(options.pages)):
            way = "with" if turn % 2 else "without"
            storage.setHidden(MANAGER, skin, () if way == "with" else ("netsight.async.notices",))
            transaction.commit()
            for _ in range(count):
                start = time.perf_counter()
                browser.open(portal.absolute_url())
                times[way].append(time.perf_counter() - start)
            assert ("netsight-async-notice" in browser.text) == (way == "with"), way
        request = layer["request"]
        request["PARENTS"] = [app]
        direct = []
        for _ in range(options.pages):
            start = time.perf_counter()
            found = notices.ready(portal, request)
            direct.append(time.perf_counter() - start)
        print(f"{options.processes} processes of the user, {shown} notices on the page, "
              f"{len(found)} notices from ready()")
        for way in ("without", "with"):
            median, p90 = quantiles(times[way])
            print(f"front page {way:8} the viewlet: median {median:7.2f} ms, p90 {p90:7.2f} ms ({len(times[way])} pages)")
        median, p90 = quantiles(direct)
        print(f"notices.ready alone:            median {median:7.3f} ms, p90 {p90:7.3f} ms")


if __name__ == "__main__":
    main()
