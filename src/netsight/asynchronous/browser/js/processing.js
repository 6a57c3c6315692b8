/* netsight.async: watch a background process, then show its result.
 *
 * Polls the process's status soon after the page loads, then ever less
 * often (data-poll-start, data-poll-growth, up to data-poll-max
 * milliseconds); a hidden tab polls at most every HIDDEN_DELAY (or four
 * times the delay), and a tab shown again, or a browser back online, polls
 * at once. An answer's Retry-After is honoured (up to MAX_RETRY_AFTER).
 *
 * The answer's "state" decides: "done" replaces this page by the result
 * (so that Back does not lead here again); "failed" says the process
 * failed; "unknown", "cancelled" and "interrupted" show the server's own
 * text with a link back to the form; "queued" and "running" show the
 * progress. An answer 401 or 403, redirected elsewhere (to a login form)
 * or not JSON means the session ended: the page says so, with a link to
 * log in (data-login-url, if any). A network error or an answer 5xx, 429
 * or 408 is a lost connection: the page says so, stops its clock, and
 * polls again. Everything is set as text, never as HTML, and only when it
 * changed (the status line is a live region).
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
  var pollUrl = new URL(data.pollUrl, document.baseURI).href;

  var HIDDEN_DELAY = 30000; // ms: a hidden tab polls at most this often
  var MAX_RETRY_AFTER = 300000; // ms: the longest wait a server may ask for
  var POLL_TIMEOUT = 60000; // ms: a poll unanswered this long is a lost connection
  var ENDED = ["unknown", "cancelled", "interrupted"]; // states of a process that ended without result

  var timer = null; // the next poll's
  var inFlight = false;
  var stopped = false; // the page ended on one of its other parts: no more polls
  var notBefore = 0; // now() before which the server asked not to poll

  function part(name) {
    return page.querySelector(".netsight-async-" + name);
  }
  /* The page's title starts with its status ("40% completed... — Site"). */
  var initialStatus = part("status").textContent;
  var titleRest = document.title.indexOf(initialStatus) === 0 ? document.title.slice(initialStatus.length) : "";

  function setTitle(text) {
    if (document.title !== text + titleRest) {
      document.title = text + titleRest;
    }
  }

  var bar = part("bar");
  var percent = part("percent");
  var spinner = part("spinner");
  var retrying = part("retrying");

  /* Writes only what changed: a live region announces every write. */
  function setText(node, text) {
    if (node && node.textContent !== text) {
      node.textContent = text;
    }
  }

  function show(node, visible) {
    if (node && node.hidden === visible) {
      node.hidden = !visible;
    }
  }

  function now() {
    return window.performance ? window.performance.now() : Date.now();
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

  /* Times come from the server (no clock skew) and run on between good
   * answers; while none comes, they stand still. */
  var times = {
    at: Date.now(),
    elapsed: Number(data.elapsed) || 0,
    remaining: data.remaining === undefined || data.remaining === "" ? null : Number(data.remaining),
  };
  var ticking = null;

  function showTimes() {
    var since = (Date.now() - times.at) / 1000;
    setText(part("elapsed"), data.textElapsed.replace("{time}", clock(times.elapsed + since)));
    setText(
      part("remaining"),
      times.remaining === null ? "" : data.textRemaining.replace("{time}", clock(times.remaining - since))
    );
  }

  function startClock() {
    if (ticking === null) {
      ticking = window.setInterval(showTimes, 1000);
    }
  }

  function stopClock() {
    window.clearInterval(ticking);
    ticking = null;
  }

  function showProgress(status) {
    var numeric = typeof status.completed === "number";
    show(spinner, !numeric);
    show(bar, numeric);
    if (numeric) {
      if (bar.value !== status.completed) {
        bar.value = status.completed;
      }
      setText(bar, status.completed + "%");
      setText(percent, status.completed + "%");
    }
    setText(part("status"), status.progress_message || "");
    setTitle(status.progress_message || "");
    setText(part("message"), status.message || "");
    times = {
      at: Date.now(),
      elapsed: Number(status.elapsed) || 0,
      remaining: typeof status.remaining === "number" ? status.remaining : null,
    };
    showTimes();
    startClock();
  }

  /* The page ends on one of its other parts: no more polls. */
  function end(name) {
    stopped = true;
    window.clearTimeout(timer);
    timer = null;
    stopClock();
    show(part("running"), false);
    show(part(name), true);
    setTitle(part(name).querySelector("h1").textContent);
  }

  function showFailure(status) {
    setText(part("error-detail"), status.error_detail || "");
    end("failed");
  }

  function showEnded(status) {
    if (status.error) {
      setText(part("ended-message"), String(status.error));
    }
    end("ended");
  }

  /* Retry-After: seconds or an HTTP date; milliseconds, or null. */
  function retryAfter(value) {
    var wait;
    if (!value) {
      return null;
    }
    if (/^\s*\d+\s*$/.test(value)) {
      wait = Number(value) * 1000;
    } else {
      wait = Date.parse(value) - Date.now();
      if (isNaN(wait)) {
        return null;
      }
    }
    return Math.min(Math.max(wait, 0), MAX_RETRY_AFTER);
  }

  /* What an answer means: {status}, {login} or {lost}, and its Retry-After. */
  function read(response) {
    var type = (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
    var outcome = { retryAfter: retryAfter(response.headers.get("Retry-After")) };
    if (response.status === 401 || response.status === 403 || (response.redirected && response.url !== pollUrl)) {
      outcome.login = true;
    } else if (response.status >= 500 || response.status === 429 || response.status === 408) {
      outcome.lost = true;
    } else if (type !== "application/json" && !/\+json$/.test(type)) {
      outcome.login = true; // a login form answered in place, or some other page
    } else {
      return response.json().then(function (status) {
        if (status && typeof status.state === "string") {
          outcome.status = status;
        } else {
          outcome.lost = true;
        }
        return outcome;
      });
    }
    return outcome;
  }

  function act(outcome) {
    if (stopped) {
      return;
    }
    if (outcome.retryAfter) {
      notBefore = now() + outcome.retryAfter;
    }
    if (outcome.login) {
      end("login");
      return;
    }
    if (outcome.lost) {
      stopClock();
      show(retrying, true);
      schedule(nextDelay());
      return;
    }
    var status = outcome.status;
    show(retrying, false);
    if (status.state === "done") {
      stopped = true;
      stopClock();
      window.location.replace(data.resultUrl);
    } else if (status.state === "failed") {
      showFailure(status);
    } else if (ENDED.indexOf(status.state) !== -1 || status.completed === "ERROR") {
      showEnded(status);
    } else {
      showProgress(status);
      schedule(nextDelay());
    }
  }

  function poll() {
    timer = null;
    inFlight = true;
    var controller = window.AbortController ? new window.AbortController() : null;
    var timeout = controller
      ? window.setTimeout(function () {
          controller.abort();
        }, POLL_TIMEOUT)
      : null;
    window
      .fetch(pollUrl, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: controller ? controller.signal : undefined,
      })
      .then(read)
      .catch(function () {
        return { lost: true, retryAfter: null };
      })
      .then(function (outcome) {
        window.clearTimeout(timeout);
        inFlight = false;
        act(outcome);
      });
  }

  function hiddenDelay() {
    return Math.max(4 * delay, HIDDEN_DELAY);
  }

  /* The wait before the next poll; the one after will be longer. */
  function nextDelay() {
    var wait = document.hidden ? hiddenDelay() : delay;
    delay = Math.min(delay * growth, maxDelay);
    return wait;
  }

  function schedule(wait) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, Math.max(wait, notBefore - now()));
  }

  /* Back online, or shown again: poll now, unless a poll is under way or
   * the server asked to wait. */
  function pollNow() {
    if (stopped || inFlight) {
      return;
    }
    if (notBefore > now()) {
      schedule(0);
      return;
    }
    window.clearTimeout(timer);
    poll();
  }

  window.addEventListener("online", pollNow);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      pollNow();
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      pollNow();
    } else if (timer !== null) {
      schedule(hiddenDelay());
    }
  });

  startClock();
  schedule(nextDelay());
})();
