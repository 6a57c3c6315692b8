/* netsight.async: watch a background process, then show its result.
 *
 * Polls the process's status soon after the page loads, then ever less
 * often (data-poll-start, data-poll-growth, up to data-poll-max
 * milliseconds). A failed poll is retried the same way, and the page says
 * so. Everything the job says is set as text, never as HTML.
 */
(function () {
  "use strict";

  var page = document.getElementById("netsight-async-processing");
  if (!page) {
    return;
  }
  var data = page.dataset;
  var delay = Number(data.pollStart) || 250;
  var growth = Number(data.pollGrowth) || 1.5;
  var maxDelay = Number(data.pollMax) || 5000;

  function part(name) {
    return page.querySelector(".netsight-async-" + name);
  }
  /* The page's title starts with its status ("40% completed... — Site"). */
  var initialStatus = part("status").textContent;
  var titleRest = document.title.indexOf(initialStatus) === 0 ? document.title.slice(initialStatus.length) : "";

  function setTitle(text) {
    document.title = text + titleRest;
  }

  var bar = part("bar");
  var percent = part("percent");
  var spinner = part("spinner");

  function setText(node, text) {
    if (node) {
      node.textContent = text;
    }
  }

  function show(node, visible) {
    if (node) {
      node.hidden = !visible;
    }
  }

  function clock(seconds) {
    var total = Math.max(0, Math.round(seconds));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var rest = total % 60;
    var pad = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return hours ? hours + ":" + pad(minutes) + ":" + pad(rest) : minutes + ":" + pad(rest);
  }

  /* Times come from the server (no clock skew) and run on between polls. */
  var times = {
    at: Date.now(),
    elapsed: Number(data.elapsed) || 0,
    remaining: data.remaining === undefined ? null : Number(data.remaining),
  };

  function showTimes() {
    var since = (Date.now() - times.at) / 1000;
    setText(part("elapsed"), data.textElapsed.replace("{time}", clock(times.elapsed + since)));
    setText(
      part("remaining"),
      times.remaining === null ? "" : data.textRemaining.replace("{time}", clock(times.remaining - since))
    );
  }

  function showProgress(status) {
    var numeric = typeof status.completed === "number";
    show(spinner, !numeric);
    show(bar, numeric);
    if (numeric) {
      bar.value = status.completed;
      setText(bar, status.completed + "%");
      setText(percent, status.completed + "%");
    }
    setText(part("status"), status.progress_message);
    setTitle(status.progress_message);
    setText(part("message"), status.message || "");
    times = { at: Date.now(), elapsed: status.elapsed, remaining: status.remaining };
    showTimes();
  }

  function showFailure(status) {
    window.clearInterval(ticking);
    show(part("running"), false);
    setText(part("error-detail"), status.error_detail || "");
    show(part("failed"), true);
    setTitle(part("failed").querySelector("h1").textContent);
  }

  function poll() {
    window
      .fetch(data.pollUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      })
      .then(function (response) {
        if (response.status >= 500) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        show(part("retrying"), false);
        if (status.completed === true) {
          window.location.assign(data.resultUrl);
        } else if (status.completed === "ERROR") {
          showFailure(status);
        } else {
          showProgress(status);
          schedule();
        }
      })
      .catch(function () {
        show(part("retrying"), true);
        schedule();
      });
  }

  function schedule() {
    window.setTimeout(poll, delay);
    delay = Math.min(delay * growth, maxDelay);
  }

  var ticking = window.setInterval(showTimes, 1000);
  schedule();
})();
