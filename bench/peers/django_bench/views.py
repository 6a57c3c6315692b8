"""The routes of bench/peers/common.py as Django views."""

from django.http import HttpResponse
from django.http import HttpResponseNotFound
from django.http import JsonResponse
from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist

from .models import Trace
from .tasks import noop

import time


STATES = {
    TaskResultStatus.READY: "queued",
    TaskResultStatus.RUNNING: "running",
    TaskResultStatus.SUCCESSFUL: "done",
}


def plain(request):
    return HttpResponse("done", content_type="text/plain")


def commit(request):
    Trace.objects.update_or_create(pk=1, defaults={"last": time.time()})
    return HttpResponse("done", content_type="text/plain")


def start(request):
    if request.method != "POST":
        return HttpResponseNotFound("not found")
    response = HttpResponse(status=303)
    response["Location"] = f"/status?id={noop.enqueue().id}"
    return response


def _result(request):
    try:
        return noop.get_result(request.GET["id"])
    except (TaskResultDoesNotExist, KeyError, ValueError):
        return None


def status(request):
    found = _result(request)
    state = "unknown" if found is None else STATES.get(found.status, "failed")
    return JsonResponse({"state": state})


def result(request):
    found = _result(request)
    if found is None or found.status != TaskResultStatus.SUCCESSFUL:
        return HttpResponseNotFound("no result")
    return HttpResponse(str(found.return_value), content_type="text/plain")
