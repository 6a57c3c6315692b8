from setuptools import find_namespace_packages
from setuptools import setup


setup(
    name="netsight.asyncdemo",
    version="1.0.0.dev0",
    description="A demo of netsight.async: the Nth Fibonacci number, computed in the background.",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    classifiers=[
        "Framework :: Plone",
        "Framework :: Plone :: 6.2",
        "Framework :: Plone :: Addon",
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3.11",
    ],
    license="Apache-2.0",
    package_dir={"": "src"},
    packages=find_namespace_packages("src", include=["netsight.*"]),
    package_data={"": ["*.pt", "*.zcml", "*.xml"]},
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=[
        "setuptools",
        "netsight.async[restapi]",
        "Products.CMFPlone",
        "Products.GenericSetup",
        "plone.base",
        "Zope",
    ],
    extras_require={
        "test": [
            "plone.app.testing",
            "plone.testing",
            "zope.testrunner",
        ],
    },
    entry_points={
        "z3c.autoinclude.plugin": ["target = plone"],
    },
)
