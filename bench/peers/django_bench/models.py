"""The one small object that the committing request saves."""

from django.db import models


class Trace(models.Model):
    last = models.FloatField(default=0)
