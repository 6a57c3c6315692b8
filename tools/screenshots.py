"""The README's and the docs' screenshots: the demo site in Plone's Barceloneta theme, 1280x800, in Debian's Chromium.

Run from the top of the repository (``make install`` first)::

    .venv/bin/python tools/screenshots.py [--out docs/screenshots]

It makes the demo as ``make demo`` does, in a temporary directory (a Zope
instance on a free port of 127.0.0.1; ``demo/instance/create_site.py``
creates the site and its member), serves it with ``runwsgi``, logs in as
the demo's member through Plone's login form and saves, in ``--out``:

- ``demo-form.png``: the Fibonacci form;
- ``demo-processing.png``: the processing page of F(2000) at 40 % or more,
  with its time left;
- ``demo-result.png``: its result;
- ``demo-failed.png``: the failure page of a job made to fail half-way;
- ``demo-my-processes.png``: My processes: a running job, a kept result
  (``fibonacci-kept``) and the failed one.

docs/index.rst and docs/quickstart.rst show ``demo-processing.png`` and
``demo-failed.png`` too.

The instance and its directory go when the script ends. Each wait is
Playwright's, with a deadline; nothing here sleeps.
"""

from pathlib import Path

import argparse
import sys


ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "demo" / "src")]

from netsight.asynchronous.tests.helpers.chromium import launch  # noqa: E402
from netsight.asynchronous.tests.helpers.instances import Cluster  # noqa: E402
from netsight.asynchronous.tests.helpers.instances import logs_on_failure  # noqa: E402
from playwright.sync_api import expect  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

import re  # noqa: E402


CREATE_SITE = ROOT / "demo" / "instance" / "create_site.py"
ADMIN = """
import transaction
if app.acl_users.getUser("admin") is None:  # make demo's mkwsgiinstance --user admin:admin
    app.acl_users._doAddUser("admin", "admin", ["Manager"], [])
    transaction.commit()
"""
MEMBER, PASSWORD = "member", "member-demo"  # create_site.py's
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT = 60_000  # ms: a job of 20 s, a slow machine
PROCESSING_URL = re.compile(r"/processing\?process_id=[0-9a-f]{32}$")
RESULT_URL = re.compile(r"/result\?process_id=[0-9a-f]{32}$")


def start_job(page, site_url, n, seconds, fail=False, view="fibonacci"):
    """Fill in and send the demo's form; returns once the processing page shows."""
    page.goto(f"{site_url}/{view}")
    page.get_by_label("N", exact=True).fill(str(n))
    page.get_by_label("Length (seconds)").fill(str(seconds))
    if fail:
        page.get_by_label("Make it fail half-way").check()
    page.get_by_role("button", name="Compute F(N)").click()
    page.wait_for_url(PROCESSING_URL)


def take(page, site_url, out):
    shot = lambda name: page.screenshot(path=str(out / name))  # noqa: E731

    page.goto(f"{site_url}/login")
    page.locator("#__ac_name").fill(MEMBER)
    page.locator("#__ac_password").fill(PASSWORD)
    page.locator("#__ac_password").press("Enter")
    expect(page.locator("#personaltools-menulink")).to_be_visible()

    page.goto(f"{site_url}/fibonacci")
    page.get_by_label("N", exact=True).fill("2000")
    page.get_by_label("Length (seconds)").fill("20")
    shot("demo-form.png")

    start_job(page, site_url, 2000, 20)
    bar = page.get_by_role("progressbar")
    page.wait_for_function(
        """() => {
          const bar = document.querySelector(".netsight-async-bar");
          const left = document.querySelector(".netsight-async-remaining");
          return bar && Number(bar.getAttribute("aria-valuenow")) >= 40 && left && left.textContent.trim() !== "";
        }"""
    )
    expect(bar).to_be_visible()
    shot("demo-processing.png")
    page.wait_for_url(RESULT_URL)
    expect(page.locator("#fibonacci-number")).to_be_visible()
    shot("demo-result.png")

    start_job(page, site_url, 2000, 4, fail=True)
    expect(page.locator(".netsight-async-failed")).to_be_visible()
    shot("demo-failed.png")

    start_job(page, site_url, 300, 0, view="fibonacci-kept")  # its result stays listed once shown
    page.wait_for_url(RESULT_URL)
    start_job(page, site_url, 5000, 300)  # still running when My processes shows
    page.goto(f"{site_url}/@@my-processes")
    expect(page.locator("table tbody tr")).to_have_count(3)  # running, kept, failed (a shown one-shot result goes)
    shot("demo-my-processes.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cluster = Cluster("demo-screenshots")
    try:
        instance = cluster.instance(zcml="")  # the demo comes in through plone.autoinclude
        with logs_on_failure(instance):
            instance.run_script(ADMIN)
            instance.run_script(CREATE_SITE.read_text(encoding="utf-8"))
            instance.start()
            site_url = f"{instance.url}/plone"
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
                    context.set_default_timeout(TIMEOUT)
                    take(context.new_page(), site_url, args.out)
                finally:
                    browser.close()
    finally:
        cluster.close()
    for name in sorted(args.out.glob("demo-*.png")):
        print(name.relative_to(ROOT) if name.is_relative_to(ROOT) else name)


if __name__ == "__main__":
    main()
