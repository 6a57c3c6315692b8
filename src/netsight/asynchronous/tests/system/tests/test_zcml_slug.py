"""netsight.async's ZCML as a buildout slug: loaded before Zope's products.

buildout's ``plone.recipe.zope2instance`` with ``zcml = netsight.async``
writes ``etc/package-includes/002-netsight.async-configure.zcml``, and its
``site.zcml`` includes the package-includes slugs *before*
``<five:loadProducts />``: before Products.CMFPlone's ZCML, and so before
the permissions of Products.CMFCore (``cmf.ManagePortal``) and what Plone's
own configure.zcml includes. ``make demo`` and the other tests load the
add-on through plone.autoinclude, after the products, and cannot see a
directive that needs them. This test starts Zope (``zconsole run``, as
``bin/instance run`` does) with the recipe's ``site.zcml`` and the recipe's
slug, so that such a directive stops it here, in seconds. test_buildout.py
builds and runs the whole buildout.
"""

from plone.testing import Layer

from netsight.asynchronous.tests.helpers.instances import Cluster

import textwrap
import unittest


# plone.recipe.zope2instance 9.1 (skel4/etc/site.zcml): the slugs of
# package-includes first, the products after them.
RECIPE_SITE_ZCML = """\
<configure
    xmlns="http://namespaces.zope.org/zope"
    xmlns:five="http://namespaces.zope.org/five"
    xmlns:meta="http://namespaces.zope.org/meta"
    >

  <include package="Products.Five" />
  <meta:redefinePermission
      from="zope2.Public"
      to="zope.Public"
      />

  <!-- Load the meta -->
  <include files="package-includes/*-meta.zcml" />
  <five:loadProducts file="meta.zcml" />

  <!-- Load the configuration -->
  <include files="package-includes/*-configure.zcml" />
  <five:loadProducts />

  <!-- Load the configuration overrides-->
  <includeOverrides files="package-includes/*-overrides.zcml" />
  <five:loadProductsOverrides />

  <securityPolicy component="AccessControl.security.SecurityPolicy" />

</configure>
"""

# The recipe's slug for `zcml = netsight.async` (001 is kept for locales).
SLUG_NAME = "002-netsight.async-configure.zcml"
SLUG = '<include package="netsight.async" file="configure.zcml" />\n'

# Run by zconsole once Zope has loaded its ZCML: what the add-on registered,
# one line each, as "<name> <permission>".
CHECK_SCRIPT = """
from zope.component import getGlobalSiteManager
from zope.interface import Interface

names = ("netsight-async-controlpanel", "netsight-async-processes", "my-processes")
found = {}
for registration in getGlobalSiteManager().registeredAdapters():
    if registration.name in names and registration.provided is Interface:
        checker = getattr(registration.factory, "__ac_permissions__", ())
        found[registration.name] = sorted(permission for permission, _ in checker)
for name in names:
    print("registered", name, found.get(name))

from Products.GenericSetup.registry import _profile_registry
print("profile", _profile_registry.getProfileInfo("netsight.async:default")["id"])
"""


class SlugInstanceLayer(Layer):
    """An instance home with the recipe's site.zcml and slug (not started)."""

    def setUp(self):
        self.cluster = Cluster("netsight-async-slug")
        instance = self.cluster.instance(zcml="")
        (instance.etc / "site.zcml").write_text(RECIPE_SITE_ZCML)
        (instance.etc / "package-includes").mkdir()
        (instance.etc / "package-includes" / SLUG_NAME).write_text(SLUG)
        self["instance"] = instance

    def tearDown(self):
        self.cluster.close()
        del self["instance"]


SLUG_INSTANCE = SlugInstanceLayer(name="NetsightAsync:SlugInstance")


class TestZCMLAsSlug(unittest.TestCase):
    """Zope starts with netsight.async's ZCML in package-includes."""

    layer = SLUG_INSTANCE

    def test_zope_starts_and_the_add_on_is_configured(self):
        # zconsole fails (AssertionError, with Zope's traceback) if the
        # ZCML does not load: e.g. ComponentLookupError: (IPermission,
        # 'cmf.ManagePortal') when a permission is used before Plone's
        # products define it.
        output = self.layer["instance"].run_script(CHECK_SCRIPT)
        lines = set(output.splitlines())
        for name in ("netsight-async-controlpanel", "netsight-async-processes", "my-processes"):
            with self.subTest(name):
                self.assertTrue(
                    any(line.startswith(f"registered {name} [") for line in lines),
                    textwrap.indent(output, "  "),
                )
        self.assertIn("profile netsight.async:default", lines, output)
