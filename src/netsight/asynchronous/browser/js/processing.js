/* netsight.async: watch a background process, then show its result.
 *
 * Polls the process's status soon after the page loads, then ever less
 * often (data-poll-start, data-poll-growth, up to data-poll-max
 * milliseconds). Once an answer of the running job gives its progress and
 * the time left ("remaining"), the next poll is at the job's predicted end
 * instead (never sooner than data-poll-start, never later than
 * data-poll-max): the page's own estimate from the answers' progress and
 * elapsed times, since the progress an answer shows may be a second or two
 * old (see untilEnd); a rough one, from a small progress, is checked on
 * the way. A poll at or after that end that finds the job still running
 * is followed by another SOON_AFTER later, until the latest end the
 * answers allow has passed; then ever less often again (data-poll-growth,
 * up to data-poll-max). A job without a numeric progress is polled at the
 * growing intervals only, and so is every job with data-poll-at-end="0".
 * But a running job in a visible tab is polled at least every FOLLOW (1 s)
 * while it reports a numeric progress, FOLLOW_NO_PROGRESS (2 s) before,
 * so that the bar follows the stored progress (issue 24); the predicted
 * end and SOON_AFTER still win when sooner. Not with data-poll-at-end="0",
 * and never sooner than data-poll-start.
 *
 * The time left is the page's own (see timeLeft): from the rate across the
 * answers that showed different progress over the last RATE_WINDOW s, once
 * two are RATE_SPAN apart; none from one answer, for a queued job or
 * without numeric progress (the server's "remaining" is not shown). Between
 * answers it counts down, never below zero nor more than about one poll
 * interval past the last answer's estimate.
 * A scheduled job ("scheduled", until its "scheduled_for") is polled at
 * its time (DUE_AFTER later), and meanwhile every data-poll-max, in a
 * visible tab; its status line says when it starts, and the page shows
 * neither spinner nor elapsed time (data-state, then each answer's
 * "state"): nothing runs yet.
 * A hidden tab polls at most every HIDDEN_DELAY (or four times the
 * delay), and a tab shown again, or a browser back online, polls at once.
 * An answer's Retry-After is honoured (up to MAX_RETRY_AFTER).
 *
 * The answer's "state" decides: "done" replaces this page by the result
 * (so that Back does not lead here again); "failed" says the process
 * failed (Bootstrap's danger alert); "unknown", "cancelled" and
 * "interrupted" show the server's own text with a link back to the form,
 * in the alert of their kind (ENDED_ALERT, as the server renders them:
 * pages.ENDED_ALERT); "scheduled", "queued" and "running" show the progress. An answer
 * 401 or 403, redirected elsewhere (to a login form) or not JSON means
 * the session ended: the page says so, with a link to log in
 * (data-login-url, if any). A network error or an answer 5xx, 429 or 408
 * is a lost connection: the page says so, stops its clock, and
 * polls again. Everything is set as text, never as HTML, and only when it
 * changed (the status line is a live region).
 *
 * The attempt line (retries.py: "Attempt 2 of 3", "Attempt 3 of 3 failed")
 * follows each answer's "attempt_message", hidden while it has none, as the
 * server renders it; its link to the attempt before stays (a process's
 * "retry_of" never changes).
 *
 * Retry (retries.py): the page of a view that allows it has the Retry form,
 * hidden; an answer that the process ended failed, interrupted or timed out
 * and is "retryable" shows it, as the server renders the page of such a
 * process. A page that sees its process end retried already ("retried_by":
 * an automatic retry, scheduled, or a Retry elsewhere) goes on to the next
 * attempt's page. (A page loaded once its process had ended has no script:
 * it stays, with its link to the next attempt.)
 *
 * Cancel: a click says "Cancelling..." (data-text-cancelling) at once and
 * takes the button away, then POSTs the form (with its CSRF token) and
 * reads the answer as a poll's; from then on the polls are at the growing
 * intervals again, from data-poll-start (the job stops at its next check,
 * not at its predicted end). The button comes back only if the cancel did
 * not reach the server. An answer that says "cancelling" (a cancel asked
 * elsewhere) takes the button away too.
 */
(function () {
  "use strict";

  var page = document.getElementById("netsight-async-processing");
  if (!page) {
    return;
  }
  // A browser runs at once a timer set further than this (ms, about 24.8 days): a poll-start or
  // poll-interval of more is waited for this long instead, never polled in a loop.
  var MAX_TIMER = 2147483647;
  var data = page.dataset;
  var delay = Math.min(Number(data.pollStart) || 250, MAX_TIMER);
  var growth = Number(data.pollGrowth) || 1.5;
  var maxDelay = Math.min(Number(data.pollMax) || 5000, MAX_TIMER);
  var pollStart = delay;
  var atEnd = data.pollAtEnd !== "0"; // poll at the predicted end
  var pollUrl = new URL(data.pollUrl, document.baseURI).href;

  var HIDDEN_DELAY = 30000; // ms: a hidden tab polls at most this often
  var SOON_AFTER = 500; // ms: the wait after the predicted end, while the job may end any moment
  var DUE_AFTER = 250; // ms: a scheduled job's poll comes this long after its time (a worker takes it then)
  var FOLLOW = 1000; // ms: the longest wait while a running job reports a numeric progress (visible tab)
  var FOLLOW_NO_PROGRESS = 2000; // ms: the longest wait while a running job reports none yet
  var RATE_WINDOW = 10; // s: the answers (of the job's elapsed time) a rate is taken over
  var RATE_SPAN = 1.5; // s: the least time between two different progresses that make a rate
  // How long before an answer first showed a progress the job reached it, assumed:
  // LAG_SHARE of the time since the answer before, at most LAG_MAX seconds (chosen
  // with a simulation, checked with bench/latency.py: a longer lag costs polls, a
  // shorter one latency).
  var LAG_SHARE = 0.6;
  var LAG_MAX = 3;
  // A prediction from a small progress (under CHECK_BELOW %) is rough: a tenth of a
  // second's error in when the job reached it is 100 / progress tenths at its end
  // (a job's start-up time is one). It is checked on the way: the page polls after
  // CHECK_SHARE of the wait, and predicts anew from the progress it then shows.
  var CHECK_BELOW = 25;
  var CHECK_SHARE = 0.7;
  var MAX_RETRY_AFTER = 300000; // ms: the longest wait a server may ask for
  var POLL_TIMEOUT = 60000; // ms: a poll unanswered this long is a lost connection
  var ENDED = ["unknown", "cancelled", "interrupted", "timed_out"]; // states of a process that ended without result
  // Their alerts (pages.ENDED_ALERT); any other, an unknown process's, is alert-info.
  var ENDED_ALERT = { cancelled: "alert-secondary", interrupted: "alert-warning", timed_out: "alert-warning" };

  var timer = null; // the next poll's
  var inFlight = false;
  var stopped = false; // the page ended on one of its other parts: no more polls
  var notBefore = 0; // now() before which the server asked not to poll
  var last = null; // {progress, elapsed} of the last answer of the running job
  var reached = null; // {progress, elapsed, at, when}: the progress shown, first seen (elapsed, at) and reached (when)
  var soonAfter = null; // the last wait after the predicted end, while the job still ran
  var seen = []; // [{progress, elapsed}]: each progress the running job's answers showed first, recent ones
  var lastWait = FOLLOW; // ms: the wait after the last answer

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

  var bar = part("bar"); // Bootstrap's .progress (role="progressbar")
  var fill = part("fill"); // its .progress-bar
  var percent = part("percent");
  var spinner = part("spinner");
  var retrying = part("retrying");
  var cancelForm = part("cancel"); // the Cancel button's form
  var retryForm = part("retry"); // the Retry button's form, where the view allows it (hidden until it may)
  var attemptLine = part("attempt"); // "Attempt 2 of 3. The attempt before" (retries), hidden without one
  var attemptText = part("attempt-text"); // its text
  var cancelAsked = false; // the button was clicked: it stays away

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
    remaining: null, // one value (of maybe a few percent) means nothing yet: see timeLeft
    floor: 0,
    scheduled: data.state === "scheduled", // no elapsed time: nothing runs yet
  };
  var ticking = null;

  function showTimes() {
    var since = (Date.now() - times.at) / 1000;
    setText(part("elapsed"), times.scheduled ? "" : data.textElapsed.replace("{time}", clock(times.elapsed + since)));
    setText(
      part("remaining"),
      times.remaining === null
        ? ""
        : data.textRemaining.replace("{time}", clock(Math.max(times.floor, times.remaining - since)))
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

  /* The time left (seconds), from the rate observed across the running
   * job's answers that showed different progress over the last
   * RATE_WINDOW seconds, once two of them are RATE_SPAN apart; null when
   * it cannot be known (queued, no numeric progress, too early). */
  function timeLeft(status) {
    var progress = status.completed;
    var elapsed = Number(status.elapsed) || 0;
    if (status.state !== "running" || typeof progress !== "number") {
      seen = [];
      return null;
    }
    var newest = seen.length ? seen[seen.length - 1] : null;
    if (newest === null || newest.progress !== progress) {
      seen.push({ progress: progress, elapsed: elapsed });
    }
    while (seen.length > 2 && elapsed - seen[1].elapsed >= RATE_WINDOW) {
      seen.shift();
    }
    var first = seen[0];
    newest = seen[seen.length - 1];
    var span = newest.elapsed - first.elapsed;
    if (seen.length < 2 || span < RATE_SPAN || !(newest.progress > first.progress)) {
      return null;
    }
    var rate = (newest.progress - first.progress) / span; // % a second
    // From when the newest progress was first seen, less the time since.
    return Math.max(0, (100 - newest.progress) / rate - (elapsed - newest.elapsed));
  }

  function showProgress(status) {
    var numeric = typeof status.completed === "number";
    var scheduled = status.state === "scheduled";
    show(spinner, !numeric && !scheduled); // nothing runs yet while it is scheduled
    show(bar, numeric);
    show(percent, numeric); // the label beside the bar
    if (numeric) {
      var value = String(status.completed);
      if (bar.getAttribute("aria-valuenow") !== value) {
        bar.setAttribute("aria-valuenow", value);
        if (fill) {
          fill.style.width = value + "%";
        }
      }
      setText(percent, value + "%");
    }
    if (status.cancelling) {
      cancelAsked = true;
    }
    show(cancelForm, !cancelAsked);
    // An answer sent before the cancel reached the server still says "Cancelling...".
    var statusText = cancelAsked && !status.cancelling ? data.textCancelling : status.progress_message;
    setText(part("status"), statusText || "");
    setTitle(statusText || "");
    setText(part("message"), status.message || "");
    var left = timeLeft(status);
    times = {
      at: Date.now(),
      elapsed: Number(status.elapsed) || 0,
      remaining: left,
      // Between answers it counts down, never more than about one poll interval past this estimate.
      floor: left === null ? 0 : Math.max(0, left - Math.max(lastWait, FOLLOW) / 1000),
      scheduled: scheduled,
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
    setTitle(part(name).querySelector(".alert-heading").textContent);
  }

  /* The attempt line, as the answer says it (none: hidden). */
  function showAttempt(status) {
    var text = status.attempt_message || "";
    setText(attemptText, text);
    show(attemptLine, text !== "");
  }

  function showFailure(status) {
    setText(part("error-detail"), status.error_detail || "");
    end("failed");
    showRetry(status);
  }

  /* The Retry button of a process that ended and may run again; or, retried already, the next attempt's page. */
  function showRetry(status) {
    if (status.retried_by) {
      var next = new URL(window.location.href);
      next.searchParams.set("process_id", status.retried_by);
      window.location.assign(next.href);
      return;
    }
    show(retryForm, Boolean(status.retryable));
  }

  function showEnded(status) {
    if (status.error) {
      setText(part("ended-message"), String(status.error));
    }
    var ended = part("ended");
    var look = ENDED_ALERT[status.state] || "alert-info";
    ["alert-info", "alert-secondary", "alert-warning"].forEach(function (name) {
      ended.classList.toggle(name, name === look);
    });
    end("ended");
    showRetry(status);
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
    showAttempt(status);
    if (status.state !== "done") {
      notifyEnd(status); // in a hidden tab, the browser's notification (if allowed)
    }
    if (status.state === "done") {
      stopped = true;
      stopClock();
      notifyEnd(status, function () {
        window.location.replace(data.resultUrl);
      });
    } else if (status.state === "failed") {
      showFailure(status);
    } else if (ENDED.indexOf(status.state) !== -1 || status.completed === "ERROR") {
      showEnded(status);
    } else {
      showProgress(status);
      schedule(nextWait(status));
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

  /* When the running job will end, as its answers tell (null if they do
   * not): {end, latest} in ms from now, and whether this answer showed its
   * progress first (fresh). The server's "remaining" extrapolates the
   * progress linearly from the job's start to the answer, but the job
   * reached that progress earlier: after the answer before, or up to
   * progress-interval (1 s) before it, as a report reaches the database at
   * most that often. "end" assumes it was reached LAG_SHARE of the time
   * since the answer before (at most LAG_MAX) before the answer that first
   * showed it; "latest", just then, as the server does. */
  function untilEnd(status) {
    var progress = status.completed;
    var elapsed = Number(status.elapsed) || 0;
    var running = status.state === "running";
    if (!running || typeof status.remaining !== "number" || typeof progress !== "number" || !(progress > 0)) {
      // A queued job's elapsed time counts from the start request, a running one's from its start.
      last = running ? { progress: progress, elapsed: elapsed } : null;
      reached = null;
      return null;
    }
    var at = now();
    var fresh = reached === null || reached.progress !== progress;
    if (fresh) {
      var since = Math.max(0, last === null ? elapsed : elapsed - last.elapsed);
      var when = elapsed - LAG_SHARE * Math.min(since, LAG_MAX);
      reached = { progress: progress, elapsed: elapsed, at: at, when: when };
    }
    last = { progress: progress, elapsed: elapsed };
    var offset = function (elapsedAtEnd) {
      return reached.at + (elapsedAtEnd - reached.elapsed) * 1000 - at;
    };
    return {
      end: offset((reached.when * 100) / progress),
      latest: offset((reached.elapsed * 100) / progress),
      fresh: fresh,
    };
  }

  /* The wait before the next poll after an answer of a queued or running
   * job: at its predicted end if the answers tell it (sooner, to check a
   * rough prediction), SOON_AFTER while it may end any moment, else (and
   * in a hidden tab) the growing intervals. */
  function nextWait(status) {
    var untilDue = status.state === "scheduled" ? Date.parse(status.scheduled_for) - Date.now() : NaN;
    if (untilDue > 0 && !document.hidden) {
      // A scheduled job: at its time (DUE_AFTER later), at the latest every data-poll-max; the
      // intervals do not grow meanwhile. Once its time passed (by this browser's clock), as a queued job.
      soonAfter = null;
      lastWait = Math.max(Math.min(untilDue + DUE_AFTER, maxDelay), pollStart);
      return lastWait;
    }
    var grown = nextDelay(); // the intervals grow meanwhile: a lost connection's and a hidden tab's waits
    // A job asked to cancel ends at its next check, not at its predicted end.
    var until = atEnd && !cancelAsked ? untilEnd(status) : null;
    if (document.hidden) {
      soonAfter = null;
      return grown;
    }
    // A visible tab follows a running job: the bar at most about FOLLOW behind the stored progress.
    // (Not with data-poll-at-end="0": the view asked for the growing intervals only; never
    // sooner than data-poll-start: poll_start 5 with poll_growth 1 is the 2011 page.)
    var follow =
      !atEnd || status.state !== "running" ? null : typeof status.completed === "number" ? FOLLOW : FOLLOW_NO_PROGRESS;
    var wait = follow === null ? grown : Math.min(grown, Math.max(follow, pollStart));
    if (until !== null) {
      wait = Math.min(wait, predicted(until, status));
    } else {
      soonAfter = null;
    }
    lastWait = wait;
    return wait;
  }

  /* The wait for a poll at the predicted end (or SOON_AFTER once it passed). */
  function predicted(until, status) {
    if (until.end > 0) {
      soonAfter = null;
      var wait = until.end;
      if (until.fresh && status.completed < CHECK_BELOW && wait > 2 * SOON_AFTER) {
        wait *= CHECK_SHARE;
      }
      return Math.min(Math.max(wait, pollStart), maxDelay);
    }
    if (soonAfter === null || until.latest > 0) {
      soonAfter = Math.min(Math.max(SOON_AFTER, pollStart), maxDelay);
    } else {
      soonAfter = Math.min(soonAfter * growth, maxDelay); // later than any end it told: less and less often
    }
    return soonAfter;
  }

  function schedule(wait) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, Math.min(Math.max(wait, notBefore - now()), MAX_TIMER));
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

  /* The Cancel button: "Cancelling..." at once, then the POST; its answer
   * is read as a poll's. */
  function cancel(event) {
    if (!window.fetch || !window.FormData || !window.URLSearchParams) {
      return; // the form's own POST: the processing page comes back
    }
    event.preventDefault();
    if (stopped || cancelAsked) {
      return; // asked already
    }
    cancelAsked = true;
    show(cancelForm, false);
    var text = data.textCancelling || "";
    setText(part("status"), text);
    setTitle(text);
    window
      .fetch(cancelForm.action, {
        method: "POST",
        body: new window.URLSearchParams(new window.FormData(cancelForm)), // as the form would send it
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      })
      .then(read)
      .catch(function () {
        return { lost: true, retryAfter: null };
      })
      .then(function (outcome) {
        if (outcome.lost) {
          cancelAsked = false; // not asked: the button comes back
          show(cancelForm, true);
        }
        delay = pollStart; // the job's end is near: poll soon
        act(outcome);
      });
  }

  /* The browser's notification of the job's end (issue 24, point 6): where
   * the browser has notifications and the user has not decided yet, the
   * button "Notify me when it is done" asks for the permission, on its
   * click only (never on load). A job that ends while the tab is hidden
   * and the permission is granted shows a notification with the job's name
   * (the page's heading) and what became of it; its click brings the tab
   * to the front. A done job's result waits for that click, or for the
   * tab to be shown again: it is shown once, to a user who looks. */
  var notifyPart = part("notify");
  var notifyButton = notifyPart ? notifyPart.querySelector("button") : null;
  var NOTIFIED = ["done", "failed", "cancelled", "interrupted", "timed_out"];

  function mayNotify() {
    return !!notifyButton && "Notification" in window;
  }

  function askToNotify() {
    var asked = window.Notification.requestPermission();
    show(notifyPart, false);
    if (asked && asked.then) {
      asked.then(function (permission) {
        show(notifyPart, permission === "default"); // dismissed: it may be asked again
      });
    }
  }

  /* The job ended (``status``): notify if the tab is hidden and it is
   * allowed; then ``go`` (if any), at once or once the user looks. */
  function notifyEnd(status, go) {
    var then = go || function () {};
    if (
      !mayNotify() ||
      !document.hidden ||
      window.Notification.permission !== "granted" ||
      NOTIFIED.indexOf(status.state) === -1
    ) {
      then();
      return;
    }
    var heading = page.querySelector("h1");
    var note;
    try {
      note = new window.Notification((heading && heading.textContent.trim()) || document.title, {
        body: status.state === "done" ? notifyButton.dataset.textDone : notifyButton.dataset.textEnded,
        tag: "netsight-async-" + (status.process_id || ""),
      });
    } catch (error) {
      then(); // a browser that allows notifications from service workers only
      return;
    }
    var done = false;
    var look = function () {
      if (!done) {
        done = true;
        document.removeEventListener("visibilitychange", shown);
        then();
      }
    };
    var shown = function () {
      if (!document.hidden) {
        note.close();
        look();
      }
    };
    note.onclick = function () {
      window.focus();
      note.close();
      look();
    };
    document.addEventListener("visibilitychange", shown);
  }

  if (mayNotify() && window.Notification.permission === "default") {
    show(notifyPart, true);
    notifyButton.addEventListener("click", askToNotify);
  }

  if (cancelForm) {
    cancelForm.addEventListener("submit", cancel);
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
