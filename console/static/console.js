// blockhook console: the few live parts. Every page works without this script; with it,
// parts marked data-live refresh themselves from the server (rendered, escaped HTML).
(function () {
  "use strict";

  function refresh(el) {
    var url = el.getAttribute("data-live");
    if (!url || url.indexOf("/admin/") !== 0) return; // same console only
    var every = parseInt(el.getAttribute("data-every") || "3000", 10);
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 200 && !r.redirected) return r.text();
          return null;
        })
        .then(function (html) {
          if (html !== null && html !== el.innerHTML) {
            el.innerHTML = html; // the server escaped every value in it
            el.setAttribute("data-refreshed", String(Date.now()));
          }
        })
        .catch(function () { /* the next tick tries again */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, Math.max(1000, every));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.querySelectorAll("[data-live]");
    for (var i = 0; i < live.length; i++) refresh(live[i]);
  });
})();
