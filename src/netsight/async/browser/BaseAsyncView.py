"""The 2011 import path: ``netsight.async.browser.BaseAsyncView.BaseAsyncView``.

``async`` is a keyword in Python 3, so the code lives in ``netsight.asynchronous``;
``importlib.import_module("netsight.async.browser.BaseAsyncView")`` and ZCML
dotted names keep working through this module.
"""

from netsight.asynchronous.view import BaseAsyncView  # noqa: F401
