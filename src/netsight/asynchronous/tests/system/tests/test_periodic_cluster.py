"""Periodic jobs on a cluster: two worker instances on one ZEO server, a schedule every 2 s: one process per period."""

from plone.testing import Layer

from netsight.asynchronous import registry
from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import HOST
from netsight.asynchronous.tests.helpers.instances import Instance
from netsight.asynchronous.tests.helpers.instances import logs_on_failure
from netsight.asynchronous.tests.helpers.instances import MEMBER
from netsight.asynchronous.tests.helpers.instances import wait_until

import time
import transaction
import unittest
import ZEO


SITE_PATH = "/plone"
EVERY = 2  # seconds
PERIODS = 3
SCHEDULE = (
    '<configure xmlns:async="http://namespaces.plone.org/netsight.async">'
    f'<async:periodic view="hello" context="{SITE_PATH}" every="{EVERY}" user="{MEMBER[0]}" />'
    "</configure>"
)
PRODUCT_CONFIG = {"pool-size": "2", "heartbeat-interval": "0.5", "heartbeat-timeout": "4"}


class TwoWorkersLayer(Layer):
    """A ZEO server, the site /plone, and two workers A and B that both register the schedule."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-periodic")
        zeo = self.cluster.zeo_server()
        zeo.start()
        zcml = Instance.TEST_VIEWS + SCHEDULE
        a, b = (self.cluster.instance(zeo=zeo, product_config=PRODUCT_CONFIG, zcml=zcml) for _ in range(2))
        a.create_site(SITE_PATH)
        for instance in (a, b):
            instance.start()
        self["zeo"], self["a"], self["b"] = zeo, a, b

    def tearDown(self):
        self.cluster.close()
        del self["zeo"], self["a"], self["b"]


TWO_WORKERS = TwoWorkersLayer(name="NetsightAsync:PeriodicTwoWorkers")


class TestPeriodicOnACluster(unittest.TestCase):
    layer = TWO_WORKERS

    def setUp(self):
        zeo = self.layer["zeo"]
        self.db = ZEO.DB((HOST, zeo.port), blob_dir=str(zeo.directory / "test-client-blobs"), shared_blob_dir=False)
        self.addCleanup(self.db.close)

    def periodic_records(self):
        """The processes of the schedule, as the database holds them now."""
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            manager.begin()
            store = registry.stored(connection.root())
            if store is None:
                return []
            return [
                (record.created, record.state, record.owner, record.instance)
                for record in store.records.values()
                if record.view_name == "hello"
            ]
        finally:
            manager.abort()
            connection.close()

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
