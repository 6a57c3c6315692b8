"""The throwaway SMTP server of the package's tests (``netsight.asynchronous.tests.helpers.smtp``), for the demo's mail test."""

from netsight.asynchronous.tests.helpers.smtp import SMTPServer


__all__ = ["SMTPServer"]
