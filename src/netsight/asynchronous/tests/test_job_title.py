"""The page says what is being processed: the job's title (issue 24, point 4).

A view's ``title`` (text, an i18n message, or a method of the starting
request's form), else its menu item's title, else its name made readable,
is the processing page's heading and part of the browser's title; it is
taken at the start and kept with the process, so that the later requests
of the page show it; a record kept without one gets its view's default.
"""

from netsight.asynchronous import jobtitle
from netsight.asynchronous import registry
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
from netsight.asynchronous.testing import ZOPE_MANAGER_NAME
from netsight.asynchronous.testing import ZOPE_MANAGER_PASSWORD
from netsight.asynchronous.tests.helpers.base import JobBrowser
from netsight.asynchronous.tests.helpers.base import JobTestCase
from netsight.asynchronous.tests.helpers.base import owner_browser
from netsight.asynchronous.tests.helpers.base import page_part
from netsight.asynchronous.tests.helpers.base import wait_until
from netsight.asynchronous.tests.helpers.views import new_gate

from zope.browsermenu.interfaces import IMenuItemType
from zope.component import getGlobalSiteManager
from zope.component import getUtility
from zope.interface import Interface

import lxml.html
import unittest


XSS = "<img src=x onerror=alert(1)>"


class JobTitles:
    """What the processing page calls a job, in Plone and in plain Zope."""

    site_title = " — Plone site"

    def start(self, view, **form):
        """A running gate job of ``view``; returns its process id."""
        url = self.url(view)
        process_id = self.browser.start(url, gate=new_gate(self), **form)
        wait_until(lambda: self.browser.poll(url, process_id)["state"] == "running", what="a running job")
        return process_id

    def page(self, view, process_id):
        self.browser.open(f"{self.url(view)}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 200)
        return self.browser.text

    def assert_called(self, view, process_id, title):
        """The page's heading, the browser's title and the JSON status name the job ``title``."""
        page = self.page(view, process_id)
        self.assertEqual(page_part(page, "title").text_content(), title)
        self.assertEqual(lxml.html.fromstring(page).findtext(".//title"), f"Processing... — {title}{self.site_title}")
        self.assertEqual(self.browser.poll(self.url(view), process_id)["title"], title)
        return page

    def test_the_views_name_made_readable(self):
        self.assert_called("gate", self.start("gate"), "Gate")

    def test_text(self):
        page = self.assert_called("titled-text", self.start("titled-text"), "Export <b>all</b> the listing")
        self.assertNotIn("<b>all</b>", page)  # text, never HTML
        self.assertIn("Export &lt;b&gt;all&lt;/b&gt; the listing", page)

    def test_computed_from_the_form_at_the_start(self):
        """The processing page's request has no ``n``: the title was taken at the start."""
        self.assert_called("titled-by-form", self.start("titled-by-form", n="2000"), "Computing F(2000)")

    def test_made_of_what_a_form_sent_stays_text(self):
        page = self.assert_called("titled-by-form", self.start("titled-by-form", n=XSS), f"Computing F({XSS})")
        self.assertNotIn(XSS, page)

    def test_a_long_title_is_cut(self):
        process_id = self.start("titled-by-form", n="9" * 500)
        title = f"Computing F({'9' * 500})"[: jobtitle.MAX_LENGTH]
        self.assertEqual(self.fresh_record(process_id).title, title)
        self.assert_called("titled-by-form", process_id, title)

    def test_a_title_is_one_line(self):
        """CR, LF and other control characters a form sent are spaces: no line of
        its own in a page's title, nor a header of its own in a mail's Subject."""
        sent = "1\r\nBcc: someone@example.org\x00\t2"
        for view in ("titled-by-form", "titled-by-form-message"):
            with self.subTest(view=view):
                process_id = self.start(view, n=sent)
                self.assert_called(view, process_id, "Computing F(1 Bcc: someone@example.org 2)")
                self.assertNotIn("\n", str(jobtitle.shown(self.fresh_record(process_id).title, None)))

    def test_a_messages_values_are_cut(self):
        """An i18n message's values, made of what a form sent, are kept at most ``MAX_LENGTH`` long each."""
        process_id = self.start("titled-by-form-message", n="9" * 5000)
        title = self.fresh_record(process_id).title
        self.assertEqual(title.mapping["n"], "9" * jobtitle.MAX_LENGTH)
        self.assert_called("titled-by-form-message", process_id, f"Computing F({'9' * 500})"[: jobtitle.MAX_LENGTH])

    def test_a_record_without_a_title_gets_its_views_default(self):
        """A process kept from before titles: its view's default, computed when shown."""
        process_id = self.start("gate")
        db = self.app._p_jar.db()

        def forget_title(record):
            del record.title  # as a record stored before titles: the class's None

        registry.change(db, process_id, forget_title)
        record = self.fresh_record(process_id)
        self.assertIsNone(record.title)
        self.assertNotIn("title", record.__dict__)
        self.assert_called("gate", process_id, "Gate")


class TestJobTitlesInPlone(JobTitles, JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_a_menu_items_title(self):
        """No ``title`` of its own: the title its ZCML gives its menu item."""
        self.assert_called("titled-by-menu", self.start("titled-by-menu"), "Rebuild the catalogue")

    def test_the_start_makes_no_menu_item(self):
        """The title is read from what ZCML registered, the context's menus are
        not built (Plone's workflow, display and actions submenus would be
        computed at each start of a job without a title of its own)."""
        made = []

        def item(context, request):  # a menu's item made for the context (None: none here)
            made.append(context)

        item_type = getUtility(IMenuItemType, "netsight_async_test_jobs")
        registered = getGlobalSiteManager()
        registered.registerAdapter(item, (Interface, Interface), item_type, name="an item made on demand")
        self.addCleanup(registered.unregisterAdapter, item, (Interface, Interface), item_type,
                        name="an item made on demand")
        self.assert_called("titled-by-menu", self.start("titled-by-menu"), "Rebuild the catalogue")
        self.assert_called("gate", self.start("gate"), "Gate")
        self.assertEqual(made, [])

    def test_an_i18n_message_in_each_viewers_language(self):
        process_id = self.start("titled-message")
        self.assert_called("titled-message", process_id, "My processes")
        self.browse_in("de")
        page = self.page("titled-message", process_id)
        self.assertEqual(page_part(page, "title").text, "Meine Prozesse")
        self.assertIn("<title>Wird verarbeitet... — Meine Prozesse — Plone site</title>", page)


class TestJobTitlesInPlainZope(JobTitles, JobTestCase):
    layer = NETSIGHT_ASYNC_ZOPE_FUNCTIONAL_TESTING
    site_title = ""  # the standalone page: the status and the job's title only

    def setUp(self):
        super().setUp()
        self.browser = JobBrowser(self.app, self.site_url, ZOPE_MANAGER_NAME, ZOPE_MANAGER_PASSWORD)


class TestJobTitleAtTheZopeRootBesidePlone(JobTestCase):
    """A start at the Zope root of a Zope that also holds a Plone site: the
    root is no Plone site, and Plone's menus' items need one (their tools),
    so those menus are passed over for the view's default title, not a 500
    (the start's ComponentLookupError before 843edc8)."""

    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def setUp(self):
        super().setUp()
        self.site_url = self.app.absolute_url()
        self.browser = owner_browser(self.app, self.site_url)  # the root's Manager
        self.view_url = f"{self.site_url}/hello"  # no title of its own, no menu item

    def test_a_view_without_a_title_is_called_by_its_name(self):
        process_id = self.browser.start(self.view_url)  # a 303 to its processing page, not a 500
        self.assertEqual(self.browser.poll(self.view_url, process_id)["title"], "Hello")
        self.assertEqual(self.browser.wait_for(self.view_url, process_id)["state"], "done")
        self.assertEqual(self.browser.result(self.view_url, process_id), "Hello world!")

    def test_its_processing_page(self):
        """The root has Plone's ``main_template`` (registered for any
        context), which fails off a Plone site (``portal_state.language()``:
        the root has no ``Language``): the page is the standalone one (``frames.in_plone``).
        The job runs until the test ends: a done job's page would redirect to its result."""
        url = f"{self.site_url}/gate"  # no title of its own either
        process_id = self.browser.start(url, gate=new_gate(self))
        self.browser.open(f"{url}/processing?process_id={process_id}")
        self.assertEqual(self.browser.status, 200)
        self.assertEqual(page_part(self.browser.text, "title").text_content(), "Gate")


class TestReadable(unittest.TestCase):
    def test_names(self):
        for name, title in (
            ("export-listing", "Export listing"),
            ("@@export_listing", "Export listing"),
            ("fibonacci", "Fibonacci"),
            ("import.rows", "Import rows"),
        ):
            self.assertEqual(jobtitle.readable(name), title)
