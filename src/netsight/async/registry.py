"""The 1.x module path of the 1.x process registry's class, for loading it.

A database that zodbupdate did not rename (its rule is an entry point of
this distribution, ``netsight.asynchronous.legacy.RENAMES``) still names
``netsight.async.registry.ProcessRegistry``: it loads as the stand-in, and
the upgrade step (or the install) of the profile removes it. Nothing else
of the 1.x module is kept.
"""

from netsight.asynchronous.legacy import LegacyProcessRegistry as ProcessRegistry  # noqa: F401
