from pathlib import Path
from setuptools import find_namespace_packages
from setuptools import setup


here = Path(__file__).parent
long_description = "\n\n".join(
    (here / name).read_text(encoding="utf-8") for name in ("README.rst", "CHANGES.rst")
)

setup(
    name="netsight.async",
    version="2.0.0.dev0",
    description="A base view for running browser requests in the background "
    "while the browser watches their progress (Zope, Plone).",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Framework :: Plone",
        "Framework :: Plone :: 6.2",
        "Framework :: Plone :: Addon",
        "Framework :: Zope",
        "Framework :: Zope :: 5",
        "License :: OSI Approved :: Apache Software License",
        "Operating System :: OS Independent",
        "Programming Language :: Python",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
    ],
    keywords="Plone Zope asynchronous background process task browser view",
    author="Richard Mitchell and the netsight.async developers",
    url="https://github.com/netsight/netsight.async",
    license="Apache-2.0",
    package_dir={"": "src"},
    packages=find_namespace_packages("src", include=["netsight.*"]),
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=[
        "setuptools",
        "AccessControl",
        "Acquisition",
        "BTrees",
        "persistent",
        "transaction",
        "Zope>=5.8,<7",  # tested with 6.3; internals.py names what may change
        "ZODB",
        "zExceptions",
        "zope.component",
        "zope.globalrequest",
        "zope.i18n",
        "zope.i18nmessageid",
        "zope.interface",
        "zope.publisher",
    ],
    extras_require={
        # The JSON API (@async-processes) is there when plone.restapi is.
        "restapi": ["plone.restapi"],
        "test": [
            "hypothesis",
            "Products.CMFPlone",
            "Products.ZODBMountPoint",
            "plone.app.testing",
            "plone.restapi",
            "plone.testing",
            "playwright",
            "psycopg2-binary",
            "RelStorage",
            "Sphinx",
            "ZEO",
            "zodbupdate",
            "zope.testbrowser",
            "zope.testrunner",
        ],
    },
    entry_points={
        "z3c.autoinclude.plugin": ["target = plone"],
        # zodbupdate: the 1.x process registry's class -> its stand-in
        "zodbupdate": ["renames = netsight.asynchronous.legacy:RENAMES"],
    },
)
