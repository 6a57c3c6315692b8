"""The system tests: real ZEO servers, Zope instance subprocesses, RelStorage, Chromium, builds.

They live in ``system/tests`` because zope-testrunner finds test modules only in
packages named ``tests``. ``make test`` runs them; ``make check`` leaves them out.
"""
