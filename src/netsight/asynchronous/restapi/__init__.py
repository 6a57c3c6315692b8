"""The JSON API of the processes through plone.restapi: the ``@async-processes`` services."""
