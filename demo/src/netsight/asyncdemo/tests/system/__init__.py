"""The demo's system tests: a real Zope instance, Chromium (``make test`` runs them, ``make check`` does not)."""
