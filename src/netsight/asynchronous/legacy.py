"""Removes the process registry of netsight.async 1.x from the Zope root.

netsight.async 1.1 kept its processes in an object of the Zope application
root, ``netsight_async_process_registry``, of class
``netsight.async.registry.ProcessRegistry``: a SimpleItem holding, in
``_process_registry``, a persistent mapping of process id -> the 1.x record
of that process. 2.0 keeps its processes elsewhere (``registry.py``), and the
1.x records are of jobs of a Python 2 process long gone, so the object goes.

A database that holds it must still load: ``LegacyProcessRegistry`` is the
class it loads as, by zodbupdate's rename rule (``RENAMES``, an entry point
of the distribution) or through the 1.x module path
(``netsight/async/registry.py``). Where neither applies, the object loads as
a ZODB broken object, which ``remove_1x_registry`` removes as well.
"""

from Acquisition import aq_base
from OFS.SimpleItem import SimpleItem
from ZODB.POSException import ConflictError

from netsight.asynchronous import internals

import logging


logger = logging.getLogger("netsight.async")

REGISTRY_ID = "netsight_async_process_registry"  # its id in the Zope root, in 1.x

# zodbupdate's rename rules (entry point group "zodbupdate"): the 1.x class
# -> the stand-in. No decode rules (group "zodbupdate.decode") are needed:
# the stand-in's own state holds no text that must stay bytes (its records
# are a persistent reference), and the object is removed anyway.
RENAMES = {
    "netsight.async.registry ProcessRegistry": "netsight.asynchronous.legacy LegacyProcessRegistry",
}


class LegacyProcessRegistry(SimpleItem):
    """What a 1.x process registry loads as, until ``remove_1x_registry`` removes it."""

    meta_type = "netsight.async 1.x process registry"
    _process_registry = None


def remove_1x_registry(app):
    """Remove the 1.x process registry from the Zope root ``app``.

    Its entry in the root's list of objects (``internals.unlist``) and the
    attribute are removed directly, whether the object loads as
    ``LegacyProcessRegistry`` or is broken, with no events and no
    ``manage_beforeDelete``. The change is made in the caller's transaction,
    which commits it. Returns whether anything was removed (nothing the
    second time).
    """
    app = aq_base(app)
    listed = internals.unlist(app, REGISTRY_ID)
    found = app.__dict__.get(REGISTRY_ID)
    if not listed and found is None:
        return False
    if found is not None:
        records = _count_records(found)
        delattr(app, REGISTRY_ID)
        logger.info(
            "Removed the process registry of netsight.async 1.x (%s) from the Zope root, with %s",
            _class_name(found),
            "its process records (unreadable)" if records is None else f"its {records} process records",
        )
    else:
        logger.info("Removed the id of the process registry of netsight.async 1.x from the Zope root")
    return True


def _count_records(registry):
    """How many 1.x processes ``registry`` held, or None if its state cannot be read.

    Its state is read as pickled (``__getstate__``), which a broken object has too.
    """
    try:
        registry._p_activate()
        state = registry.__getstate__()
        if isinstance(state, tuple):  # (dict, slots)
            state = state[0]
        return len(state["_process_registry"])
    except ConflictError:
        raise
    except Exception:  # a missing record, an unexpected state: it goes all the same
        logger.debug("The 1.x process registry could not be read", exc_info=True)
        return None


def _class_name(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__name__}"
