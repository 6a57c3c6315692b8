"""System tests of the demo (zope-testrunner finds test modules only in packages named ``tests``)."""
