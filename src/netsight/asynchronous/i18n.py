"""The message factory of the ``netsight.async`` i18n domain."""

from zope.i18nmessageid import MessageFactory


_ = MessageFactory("netsight.async")
