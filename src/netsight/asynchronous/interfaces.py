"""Interfaces of netsight.async."""

from netsight.asynchronous.i18n import _
from netsight.asynchronous.settings import LONGEST
from zope import schema
from zope.interface import Interface


class INetsightAsyncLayer(Interface):
    """Browser layer, installed by the ``netsight.async:default`` profile.

    Register overrides of the stock pages (the processing template, say)
    for this layer so that they apply only where the add-on is installed.
    """


class IOwnPage(Interface):
    """A BaseAsyncView rendering one of the add-on's pages (processing, refused).

    Its ``page_title`` is the browser title of the page (in Plone: before
    the site's title).
    """


class IBackgroundProcessesSettings(Interface):
    """The settings a Plone site keeps in its registry (prefix ``netsight.async``).

    The control panel "Background processes" edits them (how many jobs may
    wait, how many of one user's run at once, how long an ended process is
    kept, how long a shown result stays, how many of its jobs run at once, how often progress is written,
    how the pages poll). Each is read in
    the site's requests and wins there over the environment and zope.conf;
    empty (None), they apply (``settings.py``). A process keeps the caps and
    the expiry of its site from its start. The settings of an instance (its
    pool size, heartbeat, claims) stay in its zope.conf; a site may only
    take a share of the pool (``pool_size``).
    """

    queue_limit = schema.Int(
        title=_("setting_queue_limit", default="Queue limit"),
        description=_(
            "setting_queue_limit_help",
            default="How many jobs may wait to start before a new start is refused (503, try again later); "
            "0: no limit. Empty: the instance's setting (queue-limit, 20 by default).",
        ),
        min=0,
        required=False,
        default=None,
    )

    max_per_user = schema.Int(
        title=_("setting_max_per_user", default="Jobs of one user at once"),
        description=_(
            "setting_max_per_user_help",
            default="How many jobs of one user run at once in an instance; more of theirs wait while "
            "other users' jobs go ahead (0: no cap). Empty: the instance's setting (max-per-user, no cap by default).",
        ),
        min=0,
        required=False,
        default=None,
    )

    pool_size = schema.Int(
        title=_("setting_pool_size", default="Jobs of this site at once"),
        description=_(
            "setting_pool_size_help",
            default="How many of this site's jobs run at once in an instance, at most its job threads (job-threads, "
            "below); more of them wait while other sites' jobs go ahead. "
            "Empty: no share of its own, the instance's job threads.",
        ),
        min=1,
        required=False,
        default=None,
    )

    expiry = schema.Float(
        title=_("setting_expiry", default="Expiry"),
        description=_(
            "setting_expiry_help",
            default="Seconds an ended process is kept when nobody fetches its result; then it is forgotten. "
            "It applies to the processes started from then on. "
            "Empty: the instance's setting (expiry, 86400 seconds: a day, by default).",
        ),
        min=60.0,  # a browser watching a process must find its result
        max=LONGEST,  # a century (settings.LONGEST)
        required=False,
        default=None,
    )

    keep_result = schema.Float(
        title=_("setting_keep_result", default="Keep a shown result"),
        description=_(
            "setting_keep_result_help",
            default="Seconds a result stays after it was first shown, for its owner to see it again (a reload, "
            "a second tab, My processes), at most until the expiry; then it is forgotten. "
            "0: a result is shown once, as in netsight.async 1.x. A view that sets its own keep_result keeps it. "
            "Empty: the instance's setting (keep-result, 0 by default).",
        ),
        min=0.0,
        max=LONGEST,  # a century (settings.LONGEST)
        required=False,
        default=None,
    )

    progress_interval = schema.Float(
        title=_("setting_progress_interval", default="Progress interval"),
        description=_(
            "setting_progress_interval_help",
            default="Seconds between two progress writes of a job (0: write each report). "
            "Empty: the instance's setting (progress-interval, 1 second by default).",
        ),
        min=0.0,
        max=LONGEST,  # a century (settings.LONGEST)
        required=False,
        default=None,
    )

    poll_start = schema.Float(
        title=_("setting_poll_start", default="First poll"),
        description=_(
            "setting_poll_start_help",
            default="Seconds from the processing page's load to its first look at the process. "
            "Empty: the instance's setting (poll-start, 0.25 seconds by default). "
            "A view that sets its own poll_start keeps it.",
        ),
        min=0.1,
        max=LONGEST,  # a century (settings.LONGEST)
        required=False,
        default=None,
    )

    poll_growth = schema.Float(
        title=_("setting_poll_growth", default="Poll growth"),
        description=_(
            "setting_poll_growth_help",
            default="Each wait between two polls is the last one times this (1: always the first wait). "
            "Empty: the instance's setting (poll-growth, 1.5 by default). "
            "A view that sets its own poll_growth keeps it.",
        ),
        min=1.0,
        max=LONGEST,  # a century (settings.LONGEST)
        required=False,
        default=None,
    )

    poll_interval = schema.Float(
        title=_("setting_poll_interval", default="Longest poll interval"),
        description=_(
            "setting_poll_interval_help",
            default="The longest wait in seconds between two polls, also how often the page reloads "
            "without JavaScript. Empty: the instance's setting (poll-interval, 5 seconds by default). "
            "A view that sets its own poll_interval keeps it.",
        ),
        min=1.0,
        max=LONGEST,  # a century (settings.LONGEST)
        required=False,
        default=None,
    )
