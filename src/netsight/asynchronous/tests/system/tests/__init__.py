"""System tests: each starts something real outside the test process (see ``..``)."""
