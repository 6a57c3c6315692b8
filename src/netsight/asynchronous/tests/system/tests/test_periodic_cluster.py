"""Periodic jobs on a cluster: two worker instances on one ZEO server, a schedule every 2 s: one process per period."""

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Instance
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until
from netsight.asynchronous.tests.helpers.twoworkers import ClusterTestCase
from netsight.asynchronous.tests.helpers.twoworkers import SITE_PATH
from netsight.asynchronous.tests.helpers.twoworkers import TwoWorkersLayer

import time


EVERY = 2  # seconds
PERIODS = 3
SCHEDULE = (
    '<configure xmlns:async="http://namespaces.plone.org/netsight.async">'
    f'<async:periodic view="hello" context="{SITE_PATH}" every="{EVERY}" user="{MEMBER[0]}" />'
    "</configure>"
)


TWO_WORKERS = TwoWorkersLayer(
    "netsight-async-periodic", name="NetsightAsync:PeriodicTwoWorkers", zcml=Instance.TEST_VIEWS + SCHEDULE
)  # both register the schedule


class TestPeriodicOnACluster(ClusterTestCase):
    layer = TWO_WORKERS

    def periodic_records(self):
        """The processes of the schedule, as the database holds them now."""
        with self.database_now() as connection:
            store = registry.stored(connection.root())
            if store is None:
                return []
            return [
                (record.created, record.state, record.owner, record.instance)
                for record in store.records.values()
                if record.view_name == "hello"
            ]

    def test_each_period_runs_once_across_two_workers(self):
        a, b = self.layer["a"], self.layer["b"]
        with logs_on_failure(a, b):
            # The workers may have run periods while the layer was set up: three more, from now.
            first = int(time.time() // EVERY) + 1

            def done_periods():
                return {int(c // EVERY) for c, state, _o, _i in self.periodic_records() if state == registry.DONE}

            wait_until(
                lambda: len({p for p in done_periods() if p >= first}) >= PERIODS,
                timeout=60,
                what=f"{PERIODS} periods' jobs done",
            )
            records = self.periodic_records()
            periods = [int(created // EVERY) for created, *_rest in records]
            self.assertEqual(len(periods), len(set(periods)), sorted(periods))  # never two in a period
            for _created, _state, owner, _instance in records:
                self.assertEqual(owner, MEMBER[0])
            print(f"\n    [periodic: {len(records)} processes in {len(set(periods))} periods, "
                  f"run by {len({i for *_r, i in records})} instance(s)]")
