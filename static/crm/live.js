// The live pages: follow /ws/staff/calls/[<CallSid>/] and add what arrives; reconnect when the socket drops.
// One call: new utterances become bubbles and events become timeline rows, drawn like the server draws them.
// The list: any update for a call reloads the table (the server knows which calls are live and visible).
(function () {
  "use strict";

  var TERMINAL = ["completed", "busy", "failed", "no-answer", "canceled"];
  var FORBIDDEN = 4403;

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function formatOffset(ms) {
    // Same as backoffice.admin_timeline.format_offset: "01:02.3".
    var sign = ms < 0 ? "\u2212" : "";
    ms = Math.abs(Math.round(ms));
    var minutes = Math.floor(ms / 60000), rest = ms % 60000;
    var seconds = Math.floor(rest / 1000), tenths = Math.floor((rest % 1000) / 100);
    return sign + String(minutes).padStart(2, "0") + ":" + String(seconds).padStart(2, "0") + "." + tenths;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // -- the socket, with reconnection ------------------------------------------------------------------
  function follow(root, path, onMessage, onOpen) {
    var status = document.getElementById("live-connection");
    var delay = 1000, socket = null, stopped = false;

    function show(state) {
      if (!status) return;
      status.className = "live-connection " + state;
      status.textContent = root.getAttribute("data-label-" + state) || state;
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + path);
      socket.onopen = function () {
        delay = 1000;
        show("connected");
        if (onOpen) onOpen();
      };
      socket.onmessage = function (event) {
        try { onMessage(JSON.parse(event.data)); } catch (error) { if (window.console) console.error(error); }
      };
      socket.onclose = function (event) {
        if (stopped) return;
        if (event.code === FORBIDDEN) { show("forbidden"); return; }
        show("reconnecting");
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      };
    }

    connect();
    return {
      stop: function () { stopped = true; if (socket) socket.close(); },
    };
  }

  // -- one call ---------------------------------------------------------------------------------------
  function liveCall(root) {
    var labels = JSON.parse(document.getElementById("live-labels").textContent);
    ["connected", "reconnecting", "forbidden"].forEach(function (key) {
      root.setAttribute("data-label-" + key, labels[key]);
    });
    var list = document.getElementById("timeline");
    var statusCell = document.getElementById("call-status");
    var timeline = root.querySelector(".timeline");
    var toggle = document.getElementById("show-technical");
    var resyncing = false, pending = [];
    var socket = null;

    if (toggle && timeline) {
      toggle.addEventListener("change", function () { timeline.classList.toggle("show-technical", toggle.checked); });
    }
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });

    function nearBottom() {
      return window.innerHeight + window.scrollY >= document.body.scrollHeight - 120;
    }

    function insert(entry, atMs) {
      // Keep time order: after every row at or before this instant.
      entry.setAttribute("data-at-ms", String(atMs));
      var stick = nearBottom();
      var rows = list.children, before = null;
      for (var i = rows.length - 1; i >= 0; i--) {
        if (parseInt(rows[i].getAttribute("data-at-ms"), 10) <= atMs) { before = rows[i].nextSibling; break; }
        before = rows[i];
      }
      list.insertBefore(entry, before);
      entry.classList.add("fresh");
      if (stick) entry.scrollIntoView({ block: "end" });
    }

    function utterance(data) {
      if (list.querySelector('[data-utterance-id="' + data.id + '"]')) return;
      var li = el("li", "entry bubble bubble-" + data.speaker + (data.interrupted ? " interrupted" : ""));
      li.setAttribute("data-utterance-id", String(data.id));
      var meta = el("div", "meta");
      meta.appendChild(el("span", "who", labels.speakers[data.speaker] || data.speaker));
      meta.appendChild(document.createTextNode(" "));
      var time = el("time", null, formatOffset(data.start_ms));
      time.setAttribute("dir", "ltr");
      meta.appendChild(time);
      if (data.interrupted) {
        meta.appendChild(document.createTextNode(" "));
        meta.appendChild(el("span", "badge badge-barge", labels.interrupted));
      }
      li.appendChild(meta);
      var text = el("p", "text");
      text.setAttribute("dir", "auto");
      var heard = (data.heard_text || "").trim();
      if (data.interrupted && heard) {
        var unheard = data.text.indexOf(heard) === 0 ? data.text.slice(heard.length).trim() : data.text;
        var heardSpan = el("span", "heard", heard);
        heardSpan.title = labels.heard;
        text.appendChild(heardSpan);
        if (unheard) {
          text.appendChild(document.createTextNode(" "));
          var del = el("del", "unheard", unheard);
          del.title = labels.unheard;
          text.appendChild(del);
        }
      } else {
        text.textContent = data.text;
      }
      li.appendChild(text);
      insert(li, data.start_ms);
    }

    function eventDetail(kind, payload) {
      payload = payload || {};
      if (kind === "dtmf") return payload.digit || payload.digits || "";
      if (kind === "greeting") return payload.text || "";
      if (kind === "tool_call") return payload.name || "";
      if (kind === "hangup") return payload.by ? payload.by : (payload.reason || "");
      return payload.message || payload.reason || payload.error || "";
    }

    function event(data) {
      if (list.querySelector('[data-event-id="' + data.id + '"]')) return;
      var kind = data.kind;
      var css = "entry event event-" + kind.replace(/_/g, "-");
      if (labels.technical.indexOf(kind) >= 0) css += " technical";
      if (labels.problem.indexOf(kind) >= 0) css += " problem";
      var li = el("li", css);
      li.setAttribute("data-event-id", String(data.id));
      var meta = el("div", "meta");
      var time = el("time", null, formatOffset(data.offset_ms));
      time.setAttribute("dir", "ltr");
      meta.appendChild(time);
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("span", "event-title", labels.kinds[kind] || kind));
      var detail = eventDetail(kind, data.payload);
      if (detail) {
        meta.appendChild(document.createTextNode(" "));
        var bdi = el("bdi", "event-detail", String(detail));
        bdi.setAttribute("dir", "auto");
        meta.appendChild(bdi);
      }
      li.appendChild(meta);
      insert(li, data.offset_ms);
    }

    function status(data) {
      if (data.status && statusCell) {
        statusCell.setAttribute("data-status", data.status);
        statusCell.textContent = labels.statuses[data.status] || data.status;
      }
      if (data.ended_at || TERMINAL.indexOf(data.status) >= 0) {
        root.classList.add("ended");
        if (socket) socket.stop();
      }
    }

    function apply(message) {
      if (message.kind === "utterance") utterance(message.data);
      else if (message.kind === "event") event(message.data);
      else if (message.kind === "status") status(message.data);
    }

    function onMessage(message) {
      if (resyncing) pending.push(message);
      else apply(message);
    }

    // What happened between the page's rendering and the socket's (re)opening: take the server's list,
    // then replay what arrived meanwhile (rows are de-duplicated by id).
    function resync() {
      resyncing = true;
      pending = [];
      fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "live-resync" } })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.getElementById("timeline");
          if (fresh) {
            Array.prototype.forEach.call(fresh.children, function (row) {
              var id = row.getAttribute("data-utterance-id"), eid = row.getAttribute("data-event-id");
              var selector = id ? '[data-utterance-id="' + id + '"]' : '[data-event-id="' + eid + '"]';
              if (!list.querySelector(selector)) insert(document.importNode(row, true), parseInt(row.getAttribute("data-at-ms"), 10));
            });
          }
          var freshStatus = page.getElementById("call-status");
          if (freshStatus) status({ status: freshStatus.getAttribute("data-status") });
        })
        .catch(function () {})
        .then(function () {
          resyncing = false;
          var queued = pending;
          pending = [];
          queued.forEach(apply);
        });
    }

    if (root.classList.contains("ended")) return;
    // Each (re)opening resyncs: the page was rendered, or the socket dropped, before it was listening.
    socket = follow(root, root.getAttribute("data-live-socket"), onMessage, resync);
  }

  // -- the list -----------------------------------------------------------------------------------------
  function liveList(root) {
    var holder = document.getElementById("live-calls");
    var timer = null;

    function refresh() {
      timer = null;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live-calls");
          if (fresh) holder.innerHTML = fresh.innerHTML;
        })
        .catch(function () {});
    }

    function later() {
      if (timer === null) timer = window.setTimeout(refresh, 400); // one reload for a burst of updates
    }

    follow(root, root.getAttribute("data-live-socket"), function (message) {
      var known = holder.querySelector('[data-call-sid="' + message.call_sid + '"]');
      if (!known || message.kind === "status") later();
    }, later);
  }

  ready(function () {
    var root = document.querySelector(".live-page[data-live-socket]");
    if (!root) return;
    if (root.classList.contains("live-call")) liveCall(root);
    else liveList(root);
  });
})();
