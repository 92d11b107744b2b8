// The door page: typed code, name search, camera scanning (BarcodeDetector where the
// browser has it, else the bundled jsQR), one-tap check-in and undo. Check-ins made
// without a connection wait in localStorage and are sent when it returns.
(function () {
  "use strict";
  var root = document.getElementById("door");
  if (!root) return;
  var api = root.dataset.api;
  var csrf = root.dataset.csrf;
  var queueKey = "door-queue:" + api;
  var message = document.getElementById("door-message");
  var card = document.getElementById("door-guest");
  var results = document.getElementById("door-results");
  var express = document.getElementById("express");
  var queueState = document.getElementById("queue-state");

  function say(text, kind) {
    message.textContent = text || "";
    message.className = "door-message" + (kind ? " door-" + kind : "");
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  function counts(data) {
    if (data && data.counts) {
      document.getElementById("count-in").textContent = data.counts.checked_in;
      document.getElementById("count-expected").textContent = data.counts.expected;
    }
  }

  function post(body) {
    return fetch(api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 429) {
        // Past the door's rate limit: said in words, whatever the body (a proxy's page too).
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { ok: false, limited: true, message: (data && data.message) || root.dataset.msgLimited };
        });
      }
      return response.json().then(function (data) { counts(data); return data; });
    });
  }

  // -- the offline queue --------------------------------------------------------------------
  function queue() {
    try { return JSON.parse(localStorage.getItem(queueKey) || "[]"); } catch (e) { return []; }
  }
  function saveQueue(items) {
    localStorage.setItem(queueKey, JSON.stringify(items));
    queueState.hidden = items.length === 0;
    queueState.textContent = fill(queuedWords(items.length), { n: items.length });
  }
  // The page holds the sentence for each plural category of its language (formatting.
  // plural_samples); the count's category picks one, as ngettext would.
  var plurals = new Intl.PluralRules(document.documentElement.lang || "en");
  function queuedWords(n) {
    var category = plurals.select(n);
    var key = "msgQueued" + category.charAt(0).toUpperCase() + category.slice(1);
    return root.dataset[key] || root.dataset.msgQueuedOther;
  }
  var flushing = false;
  function flush() {
    var items = queue();
    if (flushing || items.length === 0) return;
    flushing = true;
    var item = items[0];
    post(item).then(function (data) {
      if (data.limited) { flushing = false; say(data.message, "refused"); return; }  // kept
      saveQueue(queue().slice(1));
      flushing = false;
      if (!data.ok) say(data.message, "refused");
      if (queue().length) { flush(); } else if (data.ok) { say(root.dataset.msgSent, "ok"); }
    }, function () { flushing = false; });
  }
  window.addEventListener("online", flush);
  setInterval(flush, 5000);
  saveQueue(queue());

  // Send a check-in, or keep it for later when the network is down.
  function send(body) {
    return post(body).then(function (data) {
      if (!data.limited) return data;
      if (body.action === "check_in") {  // kept, and sent once the limit allows
        var items = queue();
        items.push(body);
        saveQueue(items);
        say(root.dataset.msgLimitedQueued, "queued");
      } else {
        say(data.message, "refused");
      }
      return null;
    }, function () {
      if (body.action === "check_in") {
        var items = queue();
        items.push(body);
        saveQueue(items);
        say(root.dataset.msgOffline, "queued");
      }
      return null;
    });
  }

  // -- showing a guest ------------------------------------------------------------------------
  function button(label, onClick, kind) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "button" + (kind ? " " + kind : "");
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function guestLine(guest) {
    var status = root.dataset["labelStatus" + guest.status.charAt(0).toUpperCase() + guest.status.slice(1)] || guest.status;
    return guest.name + " · " + fill(root.dataset.labelParty, { n: guest.party_size }) + " · " + status +
      " · " + fill(root.dataset.labelInside, { n: guest.checked_in, party: guest.party_size });
  }

  function actions(guest, body) {
    var box = document.createElement("div");
    box.className = "door-actions";
    if (guest.status === "confirmed" && guest.checked_in < guest.party_size) {
      box.appendChild(button(root.dataset.labelIn, function () { act("check_in", body, 1); }));
      if (guest.party_size - guest.checked_in > 1) {
        box.appendChild(button(root.dataset.labelAll, function () {
          act("check_in", body, guest.party_size - guest.checked_in);
        }, "secondary"));
      }
    }
    if (guest.checked_in > 0) {
      box.appendChild(button(root.dataset.labelUndo, function () { act("undo", body, 1); }, "secondary"));
    }
    return box;
  }

  function show(guest, body) {
    card.hidden = false;
    card.textContent = "";
    var line = document.createElement("p");
    line.className = "door-guest-line";
    line.textContent = guestLine(guest);
    card.appendChild(line);
    card.appendChild(actions(guest, body));
  }

  function act(action, body, members) {
    var request = { action: action, members: members };
    if (body.code) request.code = body.code; else request.id = body.id;
    send(request).then(function (data) {
      if (!data) return;
      say(data.message, data.ok ? "ok" : "refused");
      if (data.guest) show(data.guest, body);
    });
  }

  function lookUp(code) {
    if (express.checked) {
      send({ action: "check_in", code: code, members: 99 }).then(function (data) {
        if (!data) return;
        say(data.message, data.ok ? "ok" : "refused");
        if (data.guest) show(data.guest, { code: code });
      });
      return;
    }
    send({ action: "lookup", code: code }).then(function (data) {
      if (!data) return;
      if (!data.ok) { say(data.message, "refused"); card.hidden = true; return; }
      say(data.guest.refusal || "", data.guest.refusal ? "refused" : "");
      show(data.guest, { code: code });
    });
  }

  // These forms stay on the page: undo app.js's one-submission guard once it has run.
  function ready(form) {
    setTimeout(function () {
      form.removeAttribute("data-submitting");
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) {
        b.removeAttribute("aria-disabled");
        b.classList.remove("busy");
      });
    }, 0);
  }

  document.getElementById("code-form").addEventListener("submit", function (event) {
    event.preventDefault();
    ready(event.target);
    var field = document.getElementById("code");
    var code = field.value.trim();
    if (!code) return;
    if (!navigator.onLine) {
      send({ action: "check_in", code: code, members: 99 });
      field.value = "";
      return;
    }
    lookUp(code);
    field.value = "";
  });

  document.getElementById("search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    ready(event.target);
    var q = document.getElementById("q").value;
    send({ action: "search", q: q }).then(function (data) {
      if (!data) return;
      results.textContent = "";
      card.hidden = true;
      if (!data.guests || data.guests.length === 0) { say(root.dataset.msgNone, ""); return; }
      say("", "");
      data.guests.forEach(function (guest) {
        var item = document.createElement("li");
        var line = document.createElement("span");
        line.textContent = guestLine(guest);
        item.appendChild(line);
        item.appendChild(actions(guest, { id: guest.id }));
        results.appendChild(item);
      });
    });
  });

  // -- the camera -----------------------------------------------------------------------------
  var video = document.getElementById("camera");
  var canvas = document.getElementById("camera-frame");
  var lastCode = "";
  var lastAt = 0;

  function found(text) {
    var now = Date.now();
    if (text === lastCode && now - lastAt < 4000) return;  // the same ticket held up
    lastCode = text;
    lastAt = now;
    lookUp(text);
  }

  function scanWith(detect) {
    function tick() {
      if (video.readyState >= 2) {
        detect().then(function (text) { if (text) found(text); }, function () {});
      }
      setTimeout(tick, 250);
    }
    tick();
  }

  document.getElementById("camera-start").addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(root.dataset.msgCamera, "refused");
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream;
      video.hidden = false;
      video.play();
      if ("BarcodeDetector" in window) {
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        scanWith(function () {
          return detector.detect(video).then(function (codes) { return codes.length ? codes[0].rawValue : ""; });
        });
      } else if (window.jsQR) {
        var context = canvas.getContext("2d", { willReadFrequently: true });
        scanWith(function () {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          context.drawImage(video, 0, 0, canvas.width, canvas.height);
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
          return Promise.resolve(code ? code.data : "");
        });
      }
    }, function () { say(root.dataset.msgCamera, "refused"); });
  });
}());
