// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";

  // Time zone follows the venue's country: narrowed to that country's zones, and
  // preselected: its only zone, else the browser's own zone when it is in that country,
  // else the country's main zone (the one most of its people live in).
  function browserZone(aliases) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    return aliases[zone] || zone;
  }

  function wireZones(form) {
    var data = form.getAttribute("data-country-zones");
    if (!data) { return; }
    var zonesByCountry = JSON.parse(data);
    var defaults = JSON.parse(form.getAttribute("data-zone-defaults") || "{}");
    var mainZones = defaults.main || {};
    var own = browserZone(defaults.aliases || {});
    var country = form.querySelector("[data-zone-target]");
    if (!country) { return; }
    var zoneSelect = document.getElementById(country.getAttribute("data-zone-target"));
    var allOptions = Array.prototype.map.call(zoneSelect.options, function (o) {
      return { value: o.value, text: o.text };
    });
    function refresh(keepCurrent) {
      var zones = zonesByCountry[country.value] || null;
      var current = zoneSelect.value;
      zoneSelect.innerHTML = "";
      allOptions.forEach(function (o) {
        if (o.value === "" || !zones || zones.indexOf(o.value) !== -1 || o.value === "UTC") {
          zoneSelect.appendChild(new Option(o.text, o.value));
        }
      });
      if (!zones) {
        zoneSelect.value = keepCurrent ? current : "";
      } else if (keepCurrent && current && zones.indexOf(current) !== -1) {
        zoneSelect.value = current;
      } else if (zones.length === 1) {
        zoneSelect.value = zones[0];
      } else if (zones.indexOf(own) !== -1) {
        zoneSelect.value = own;
      } else {
        zoneSelect.value = mainZones[country.value] || "";
      }
    }
    country.addEventListener("change", function () { refresh(false); });
    refresh(true);
  }

  // The licence terms shown are those of the film chosen.
  function wireTerms(form) {
    var film = form.querySelector("select[name=film_id]");
    if (!film) { return; }
    function show() {
      Array.prototype.forEach.call(form.querySelectorAll("[data-film-terms]"), function (box) {
        box.hidden = box.getAttribute("data-film-terms") !== film.value;
      });
    }
    film.addEventListener("change", show);
    show();
  }

  // Who sees the address follows the organization type until the organizer picks it.
  function wireListingDefault(form) {
    var type = form.querySelector("select[data-listing-guests]");
    if (!type) { return; }
    var touched = false;
    form.querySelectorAll("input[name=listing]").forEach(function (r) {
      r.addEventListener("change", function () { touched = true; });
    });
    type.addEventListener("change", function () {
      var value = type.value === type.getAttribute("data-listing-guests") ? "guests" : "public";
      var radio = form.querySelector("input[name=listing][value=" + value + "]");
      if (!touched && radio) { radio.checked = true; }
    });
  }

  // A box that reveals the field it names (data-reveals): hidden and disabled, so not sent,
  // while the box is unticked (the server then copies the venue's country).
  function wireReveal(form) {
    Array.prototype.forEach.call(form.querySelectorAll("input[data-reveals]"), function (box) {
      var target = document.getElementById(box.getAttribute("data-reveals"));
      if (!target) { return; }
      var wrapper = target.closest(".field") || target;
      function show() {
        wrapper.hidden = !box.checked;
        target.disabled = !box.checked;
      }
      box.setAttribute("aria-controls", target.id);
      box.addEventListener("change", show);
      show();
    });
  }

  // One submission per form: a second click does nothing while the first is sent.
  function wireSingleSubmit(form) {
    form.addEventListener("submit", function () {
      if (form.getAttribute("data-submitting")) { return; }
      form.setAttribute("data-submitting", "1");
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) {
        b.setAttribute("aria-disabled", "true");
        b.classList.add("busy");
      });
    });
  }

  // "Select all on this page": ticks or unticks every box of its name (shown only with JS).
  function wireSelectAll(box) {
    var name = box.getAttribute("data-select-all");
    var boxes = document.querySelectorAll("input[type=checkbox][name=" + name + "]");
    if (box.parentNode) { box.parentNode.hidden = false; }
    box.addEventListener("change", function () {
      Array.prototype.forEach.call(boxes, function (b) { b.checked = box.checked; });
    });
  }

  // The "near" field's suggestions: gazetteer towns from /places fill its <datalist> as one
  // types (the server resolves whatever is submitted, so this only saves typing).
  function wireSuggestions(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-suggest-url");
    var timer = null;
    if (!list || !url || !window.fetch) { return; }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var typed = input.value.trim();
      if (typed.length < 2) { return; }
      timer = setTimeout(function () {
        fetch(url + "?q=" + encodeURIComponent(typed), { credentials: "omit" })
          .then(function (response) { return response.ok ? response.json() : { places: [] }; })
          .then(function (data) {
            list.innerHTML = "";
            data.places.forEach(function (place) {
              var option = document.createElement("option");
              option.value = place.label;
              list.appendChild(option);
            });
          })
          .catch(function () { /* no suggestions: the field still works */ });
      }, 200);
    });
  }

  // Holidays and Shabbat on the chosen date and place, shown before the form is sent
  // (/book/warnings answers an HTML fragment; the result page shows them too, without JS).
  function wireObservances(form) {
    var region = form.querySelector("[data-warnings-url]");
    if (!region || !window.fetch) { return; }
    var names = { date: "start_date", time: "start_time", country: "country", city: "city",
                  region: "region", timezone: "timezone", duration: "duration_minutes" };
    var timer = null;
    function refresh() {
      var query = [];
      Object.keys(names).forEach(function (key) {
        var input = form.querySelector("[name=" + names[key] + "]");
        if (input && input.value) {
          query.push(key + "=" + encodeURIComponent(input.value));
        }
      });
      var date = form.querySelector("[name=start_date]"), country = form.querySelector("[name=country]");
      if (!date || !date.value || !country || !country.value) { region.innerHTML = ""; return; }
      fetch(region.getAttribute("data-warnings-url") + "?" + query.join("&"), { credentials: "omit" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) { region.innerHTML = html; })
        .catch(function () { /* no hint: the result page still shows the warnings */ });
    }
    Object.keys(names).forEach(function (key) {
      var input = form.querySelector("[name=" + names[key] + "]");
      if (input) {
        input.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 150); });
      }
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-select-all]"), wireSelectAll);
    Array.prototype.forEach.call(document.querySelectorAll("input[data-suggest-url]"), wireSuggestions);
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (form) {
      wireZones(form);
      wireTerms(form);
      wireListingDefault(form);
      wireReveal(form);
      wireObservances(form);
      wireSingleSubmit(form);
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.setAttribute("tabindex", "-1"); summary.focus(); }
  });
})();
