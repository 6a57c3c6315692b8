/* netsight.async: poll a background process until it is done, then show its result. */
(function () {
  "use strict";
  var page = document.getElementById("netsight-async-processing");
  if (!page) {
    return;
  }
  var pollUrl = page.getAttribute("data-poll-url");
  var resultUrl = page.getAttribute("data-result-url");
  var interval = parseInt(page.getAttribute("data-poll-interval"), 10) || 5000;
  var progress = page.querySelector(".netsight-async-progress");

  function poll() {
    fetch(pollUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.json();
      })
      .then(function (status) {
        if (status.completed === true) {
          window.location.assign(resultUrl);
        } else if (status.completed === "ERROR") {
          window.location.reload(); /* the processing page explains the failure */
        } else {
          if (progress && status.progress_message) {
            progress.textContent = status.progress_message;
          }
          window.setTimeout(poll, interval);
        }
      })
      .catch(function () {
        window.setTimeout(poll, interval);
      });
  }

  window.setTimeout(poll, Math.min(interval, 1000));
})();
