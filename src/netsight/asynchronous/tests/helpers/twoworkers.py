"""Two worker instances A and B on one ZEO server with the site /plone: the cluster tests' common layer and test case."""

from plone.testing import Layer

from netsight.asynchronous.tests.helpers.instances import Cluster
from netsight.asynchronous.tests.helpers.instances import HOST

import contextlib
import transaction
import unittest
import ZEO


SITE_PATH = "/plone"
PRODUCT_CONFIG = {"pool-size": "2", "heartbeat-interval": "0.5", "heartbeat-timeout": "4"}


class TwoWorkersLayer(Layer):
    """A ZEO server, the site /plone, and two workers A and B (``self["zeo"]``, ``["a"]``, ``["b"]``).

    :param cluster: the name of the cluster's directory.
    :param zcml: the instances' extra ZCML (None: the test views).
    """

    def __init__(self, cluster, name, zcml=None):
        super().__init__(name=name)
        self.cluster_name = cluster
        self.zcml = zcml

    def setUp(self):
        self.cluster = Cluster(self.cluster_name)
        zeo = self.cluster.zeo_server()
        zeo.start()
        extra = {} if self.zcml is None else {"zcml": self.zcml}
        a, b = (self.cluster.instance(zeo=zeo, product_config=PRODUCT_CONFIG, **extra) for _ in range(2))
        a.create_site(SITE_PATH)
        for instance in (a, b):
            instance.start()
        self["zeo"], self["a"], self["b"] = zeo, a, b

    def tearDown(self):
        self.cluster.close()
        del self["zeo"], self["a"], self["b"]


class ClusterTestCase(unittest.TestCase):
    """A test that reads the cluster's database through a ZEO client of its own (``self.db``)."""

    def setUp(self):
        zeo = self.layer["zeo"]
        self.db = ZEO.DB((HOST, zeo.port), blob_dir=str(zeo.directory / "test-client-blobs"), shared_blob_dir=False)
        self.addCleanup(self.db.close)

    @contextlib.contextmanager
    def database_now(self):
        """A connection of ``self.db`` in a transaction of its own: what the database holds now; closed after."""
        manager = transaction.TransactionManager()
        connection = self.db.open(transaction_manager=manager)
        try:
            manager.begin()
            yield connection
        finally:
            manager.abort()
            connection.close()
