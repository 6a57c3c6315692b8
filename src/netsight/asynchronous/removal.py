"""Removes what the add-on keeps in the database: a site's processes when it is uninstalled, and the registry once no site uses it.

The processes of every site are in the root of the main database
(``registry.py``): records, results, blobs, the copied requests, the
indexes and the instances' heartbeats. Uninstalling the add-on from a site
(``setuphandlers.uninstalled``) removes that site's processes, after
cancelling its queued and running jobs; once no process is left, of any
site, the registry's keys go from the root too (``registry.ROOT_KEYS``),
so that nothing of the add-on stays in a database it no longer serves.
A pack then drops the records and the blobs' files.

The Zope root's Manager may remove it all at once, every site's processes
and the 1.x registry with them, from the command line (with the instances
stopped; see ``docs/upgrading.rst``)::

    bin/python -m netsight.asynchronous.removal etc/zope.conf
"""

from netsight.asynchronous import registry
from netsight.asynchronous.cancels import ask_to_cancel
from netsight.asynchronous.legacy import remove_1x_registry
from netsight.asynchronous.pool import POOL

import logging
import sys
import transaction


logger = logging.getLogger("netsight.async")


def remove_site(site):
    """Cancel and remove the processes of the Plone site ``site``; then, if no
    process of any site is left, the registry. In the caller's transaction:
    the jobs this instance runs or queues for the site stop once it commits
    (the others stop at their next progress report, which finds no record)."""
    app = site.getPhysicalRoot()
    root = app._p_jar.root()  # the main database's, wherever the site is mounted
    path = "/".join(site.getPhysicalPath())
    if not registry.exists(root):
        return
    active = registry.remove_site(root, path)
    if active:
        transaction.get().addAfterCommitHook(_stop_here, args=(active,))
    emptied = registry.remove_all(root)
    logger.info(
        "netsight.async: removed the processes of %s (%d queued or running, cancelled)%s",
        path,
        len(active),
        "; no process is left: the registry was removed from the database" if emptied else "",
    )


def _stop_here(committed, process_ids):
    """After the removal committed: the jobs of this instance stop (a queued one never starts)."""
    if not committed:
        return
    for process_id in process_ids:
        ask_to_cancel(process_id)
        POOL.withdraw(process_id)


def remove_everything(app):
    """Remove the registry (every site's processes) and the 1.x registry from
    the database of the Zope root ``app``, in the caller's transaction.
    Returns how many processes there were (None: no registry)."""
    root = app._p_jar.root()
    processes = root.get(registry.ROOT_KEY)
    count = None if processes is None else len(processes)
    registry.remove_all(root, only_if_empty=False)
    remove_1x_registry(app)
    return count


def main(argv=None):
    """``python -m netsight.asynchronous.removal etc/zope.conf``: ``remove_everything``, committed."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write(f"Usage: {sys.executable} -m netsight.asynchronous.removal <path to zope.conf>\n")
        return 2
    from Zope2.Startup.run import make_wsgi_app

    import Zope2

    make_wsgi_app({}, argv[0])
    app = Zope2.app()
    try:
        count = remove_everything(app)
        transaction.commit()
    finally:
        app._p_jar.close()
    if count is None:
        print("netsight.async: the database holds no process registry; nothing to remove.")
    else:
        print(f"netsight.async: removed the process registry ({count} processes) from the database.")
    print("Pack the database to drop the records and their blobs' files.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
