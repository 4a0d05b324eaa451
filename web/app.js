// wampgres browser client: calls the database procedures over WAMP and shows each result or error.
// Served by the router together with AutobahnJS (/autobahn/autobahn.min.js); no build step.
//
// Query parameters (all optional):
//   realm=NAME               WAMP realm (default realm1)
//   procedures=URI,URI,...   procedures to call (default com.example.now.v1 .. v4)
"use strict";

(function () {
  var params = new URLSearchParams(location.search);
  var realm = params.get("realm") || "realm1";
  var procedures = (params.get("procedures") || "com.example.now.v1,com.example.now.v2,com.example.now.v3,com.example.now.v4")
    .split(",")
    .map(function (uri) { return uri.trim(); })
    .filter(function (uri) { return uri.length > 0; });

  // Same host and port as the page, path /ws; wss: when the page came over https.
  var url = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws";

  var stateEl = document.getElementById("connection-state");
  var detailEl = document.getElementById("connection-detail");
  var button = document.getElementById("call-again");
  var tbody = document.getElementById("procedure-rows");
  document.getElementById("endpoint").textContent = url;
  document.getElementById("realm").textContent = realm;

  var rows = new Map();
  procedures.forEach(function (uri, index) {
    var tr = document.createElement("tr");
    tr.id = "procedure-" + index;
    tr.dataset.procedure = uri;
    tr.dataset.status = "pending";
    tr.innerHTML = '<td><code class="uri"></code></td><td class="result">not called yet</td><td class="elapsed"></td>';
    tr.querySelector(".uri").textContent = uri;
    tbody.appendChild(tr);
    rows.set(uri, tr);
  });

  // retryDelay (seconds) is exposed as data-retry-delay while reconnecting.
  function setState(state, detail, retryDelay) {
    stateEl.dataset.state = state;
    if (retryDelay === undefined) delete stateEl.dataset.retryDelay;
    else stateEl.dataset.retryDelay = String(retryDelay);
    stateEl.textContent = state;
    detailEl.textContent = detail || "";
    button.disabled = state !== "connected";
  }

  function show(uri, status, text, ms) {
    var tr = rows.get(uri);
    tr.dataset.status = status;
    tr.querySelector(".result").textContent = text;
    tr.querySelector(".elapsed").textContent = ms === undefined ? "" : ms.toFixed(1) + " ms";
  }

  // A result with one positional value and no kwargs arrives as that value, otherwise as autobahn.Result.
  function describeResult(res) {
    if (res instanceof autobahn.Result) {
      if (res.args.length === 1 && Object.keys(res.kwargs || {}).length === 0) return String(res.args[0]);
      return JSON.stringify({ args: res.args, kwargs: res.kwargs });
    }
    return typeof res === "string" ? res : JSON.stringify(res);
  }

  function describeError(err) {
    if (err instanceof autobahn.Error) {
      var message = err.args && err.args.length > 0 ? String(err.args[0]) : "";
      return err.error + (message ? ": " + message : "");
    }
    return String(err && err.message ? err.message : err);
  }

  function callAll(session) {
    procedures.forEach(function (uri) {
      show(uri, "calling", "calling…");
      var started = performance.now();
      session.call(uri).then(
        function (res) {
          var text = describeResult(res);
          show(uri, "ok", text, performance.now() - started);
          console.log("result " + uri, text);
        },
        function (err) {
          var text = describeError(err);
          show(uri, "error", text, performance.now() - started);
          console.error("error " + uri, text);
        }
      );
    });
  }

  var session = null;
  var reopenAttempts = 0;
  var connection = new autobahn.Connection({
    url: url,
    realm: realm,
    max_retries: 30,
    initial_retry_delay: 0.5,
    max_retry_delay: 5,
    retry_if_unreachable: true
  });

  connection.onopen = function (newSession) {
    session = newSession;
    reopenAttempts = 0;
    setState("connected", "session " + newSession.id);
    console.log("connected to " + url + " (realm " + realm + ")");
    callAll(newSession);
  };

  connection.onclose = function (reason, details) {
    session = null;
    var why = reason + (details && details.reason ? " (" + details.reason + ")" : "");
    console.log("connection " + why, details);
    if (details && details.will_retry) {
      setState("reconnecting", why + ", retry " + details.retry_count + " in " + details.retry_delay.toFixed(1) + " s",
        details.retry_delay);
    } else if (details && details.reason === "wamp.close.system_shutdown" && reopenAttempts < 30) {
      // autobahn stops retrying after the router's GOODBYE (its shutdown): reopen ourselves.
      var delay = Math.min(5, 0.5 * Math.pow(1.5, reopenAttempts++));
      setState("reconnecting", why + ", retry " + reopenAttempts + " in " + delay.toFixed(1) + " s", delay);
      setTimeout(function () { connection.open(); }, delay * 1000);
    } else {
      setState("closed", why);
    }
    return false;
  };

  button.addEventListener("click", function () {
    if (session !== null) callAll(session);
  });

  setState("connecting", url);
  connection.open();
})();
