"""The browser's notification of a job's end in a hidden tab, in Chromium: asked for on a click, never on load.

The page's ``window.Notification`` is wrapped by an init script that
records what the page asks for and shows (and passes each call on to
Chromium's own); a headless browser cannot hide a tab, so the page is told
it is hidden (``SET_HIDDEN``), and told it is back online to poll at once
(``ONLINE``) rather than after a hidden tab's 30 s.
"""

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.chromium import ChromiumTestCase
from netsight.asynchronous.tests.helpers.chromium import ONLINE
from netsight.asynchronous.tests.helpers.chromium import Polls
from netsight.asynchronous.tests.helpers.chromium import PROCESSING_URL
from netsight.asynchronous.tests.helpers.chromium import RESULT_URL
from netsight.asynchronous.tests.helpers.chromium import SET_HIDDEN
from netsight.asynchronous.tests.helpers.chromium import wait_until
from netsight.asynchronous.tests.helpers.views import GATES
from netsight.asynchronous.tests.helpers.views import new_gate

import transaction


# Records each permission request and each notification (title, body, and
# its click handler, which the test calls as a user's click would).
NOTIFICATIONS = """(() => {
  const Original = window.Notification;
  if (!Original) {
    return;
  }
  const shown = (window.__netsightNotifications = []);
  window.__netsightAsked = 0;
  function Recorded(title, options) {
    const note = { title: title, body: options && options.body, closed: false, onclick: null };
    shown.push(note);
    // Kept across the tab's pages too: a page that went on to the result still tells.
    const kept = JSON.parse(sessionStorage.getItem("netsightNotifications") || "[]");
    kept.push({ title: note.title, body: note.body });
    sessionStorage.setItem("netsightNotifications", JSON.stringify(kept));
    let real = null;
    try {
      real = new Original(title, options);
    } catch (error) {
      note.error = String(error);
    }
    return {
      close() {
        note.closed = true;
        if (real) {
          real.close();
        }
      },
      set onclick(handler) {
        note.onclick = handler;
      },
      get onclick() {
        return note.onclick;
      },
    };
  }
  Object.defineProperty(Recorded, "permission", { get: () => Original.permission });
  Recorded.requestPermission = function () {
    window.__netsightAsked += 1;
    return Original.requestPermission.apply(Original, arguments);
  };
  window.Notification = Recorded;
})();"""
SHOWN = "() => window.__netsightNotifications.map((n) => ({title: n.title, body: n.body, closed: n.closed}))"
# Every notification of the tab, whichever of its pages showed it.
EVER_SHOWN = "() => JSON.parse(sessionStorage.getItem('netsightNotifications') || '[]')"


class TestNotification(ChromiumTestCase):
    def setUp(self):
        super().setUp()
        self.page.add_init_script(NOTIFICATIONS)
        Polls(self.page, route=False)  # the poll log that SET_HIDDEN and ONLINE read

    def start_gate(self):
        """Start a job that runs until the test opens its gate; returns (gate, process id)."""
        gate = new_gate(self)
        self.start("gate", gate=gate)
        self.page.wait_for_url(PROCESSING_URL)
        return gate, self.page.url.rsplit("process_id=", 1)[1]

    def end(self, gate, process_id):
        """Let the job end, and wait until its end is committed."""
        GATES[gate].set()
        app = self.layer["app"]

        def ended():
            transaction.begin()
            record = registry.find(app._p_jar, process_id)
            return record is not None and record.state in registry.ENDED

        wait_until(self.page, ended, what=f"process {process_id} ended")

    def button(self):
        return self.page.locator(".netsight-async-notify button")

    def test_a_hidden_tab_is_notified_and_its_click_shows_the_result(self):
        self.context.grant_permissions(["notifications"], origin=self.server_url)
        gate, process_id = self.start_gate()
        heading = self.page.locator("#netsight-async-processing h1").text_content().strip()
        self.assertFalse(self.button().is_visible())  # allowed already: nothing to ask
        self.page.evaluate(SET_HIDDEN, True)
        self.end(gate, process_id)
        self.page.evaluate(ONLINE)  # polls now
        wait_until(self.page, lambda: self.page.evaluate(SHOWN), what="a notification")
        self.assertEqual(
            self.page.evaluate(SHOWN), [{"title": heading, "body": "The result is ready.", "closed": False}]
        )
        self.assertEqual(self.page.evaluate(EVER_SHOWN), [{"title": heading, "body": "The result is ready."}])
        self.assertRegex(self.page.url, PROCESSING_URL)  # the result waits for the user
        self.page.evaluate("window.__netsightNotifications[0].onclick()")  # the user clicks it
        self.page.wait_for_url(RESULT_URL)
        self.assertEqual(self.page.locator("body").text_content(), f"passed {process_id}")
        self.assertEqual(self.page.evaluate("window.__netsightAsked"), 0)

    def test_asked_on_the_buttons_click_never_on_load(self):
        gate, process_id = self.start_gate()
        self.assertTrue(self.button().is_visible())
        self.assertEqual(self.button().text_content(), "Notify me when it is done")
        self.assertEqual(self.page.evaluate("window.__netsightAsked"), 0)
        self.button().click()
        wait_until(self.page, lambda: self.page.evaluate("window.__netsightAsked") == 1, what="the permission asked")
        # Not granted (nobody allowed it): the job's end in a hidden tab shows nothing, and the result.
        self.page.evaluate(SET_HIDDEN, True)
        self.end(gate, process_id)
        self.page.evaluate(ONLINE)
        self.page.wait_for_url(RESULT_URL)
        self.assertEqual(self.page.evaluate(EVER_SHOWN), [])

    def test_a_visible_tab_is_not_notified(self):
        self.context.grant_permissions(["notifications"], origin=self.server_url)
        gate, process_id = self.start_gate()
        self.end(gate, process_id)
        self.page.wait_for_url(RESULT_URL)
        self.assertEqual(self.page.locator("body").text_content(), f"passed {process_id}")
        self.assertEqual(self.page.evaluate(EVER_SHOWN), [])
