// Scan-first dispatch (issue 30): plain JavaScript, no build step, no page reloads.
// - Wave page (#scan): one input takes what a barcode scanner types, then Enter: a product's sku
//   counts one unit picked; a shipment id selects it and packs it once all its units are picked;
//   a tracking number scanned while a packed shipment is selected hands it to the suggested carrier.
// - Dock (#dock): shipment id then tracking number per parcel; a carrier's code (or its button)
//   hands that carrier's batch over at once; a second input confirms deliveries.
// - Dispatch board (#board): the Waiting table and the SLA panel refresh together from one answer.
// Every answer is said in the aria-live region (#scan-say); the input keeps the focus.
(function () {
  "use strict";

  var TRACKING = /^[A-Za-z0-9-]{1,64}$/;
  var say = null;

  function speak(text, kind) {
    if (!say) { return; }
    say.textContent = text;
    say.className = "say say-" + (kind || "ok");
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      if (r.redirected) {
        return { ok: false, say: "Your session has ended: reload the page and sign in again." };
      }
      return r.json().catch(function () {
        return { ok: false, say: "The console's answer could not be read (HTTP " + r.status + "). Scan again." };
      });
    }, function () {
      return { ok: false, say: "The console cannot be reached: check the network, then scan again." };
    });
  }

  // One scan at a time, in the order scanned: a scanner types faster than the services answer.
  function scanner(input, handle) {
    var chain = Promise.resolve();
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();
      var code = input.value.trim();
      input.value = "";
      if (!code) { return; }
      chain = chain.then(function () {
        if (code.length > 200) { speak("That scan is too long to be a code; scan again.", "error"); return null; }
        return handle(code);
      }).catch(function () {
        speak("Something went wrong with that scan; scan it again.", "error");
      }).then(function () { input.focus(); });
    });
    // Keep the scanner's input focused, unless the person moved to another field or button.
    input.addEventListener("blur", function () {
      setTimeout(function () {
        var active = document.activeElement;
        if (!active || active === document.body) { input.focus(); }
      }, 0);
    });
    // Printing hides the input (and so blurs it): take the focus back once the page is on screen again.
    var printing = window.matchMedia ? window.matchMedia("print") : null;
    if (printing && printing.addEventListener) {
      printing.addEventListener("change", function (m) { if (!m.matches) { input.focus(); } });
    }
    window.addEventListener("afterprint", function () { input.focus(); });
    input.focus();
  }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  // --- the wave page ---------------------------------------------------------------------------

  function wavePage(root) {
    var input = document.getElementById("scan-input");
    var selectedLine = document.getElementById("scan-selected");
    var shipments = {};
    var rows = {};
    var storeKey = "dispatch-scan:" + (root.getAttribute("data-wave") || location.search);
    var selected = null;

    document.querySelectorAll("#scan-shipments [data-shipment-id]").forEach(function (el) {
      var s = { id: el.getAttribute("data-shipment-id"), status: el.getAttribute("data-status"),
                carrier: el.getAttribute("data-carrier"), tracking: el.getAttribute("data-tracking"),
                lines: JSON.parse(el.getAttribute("data-lines") || "[]") };
      shipments[s.id.toUpperCase()] = s;
    });
    document.querySelectorAll("#pick-list tbody tr[data-sku]").forEach(function (tr) {
      var sku = tr.getAttribute("data-sku");
      rows[sku.toUpperCase()] = { sku: sku, total: parseInt(tr.getAttribute("data-quantity"), 10),
                                  name: tr.getAttribute("data-name") || sku, bin: tr.getAttribute("data-bin"),
                                  tr: tr, cell: tr.querySelector(".picked"), picked: 0, boxed: 0 };
    });
    // Units picked but not yet packed survive a reload of the page (this tab only).
    try {
      var kept = JSON.parse(sessionStorage.getItem(storeKey) || "{}");
      Object.keys(kept).forEach(function (key) {
        if (rows[key]) { rows[key].picked = Math.max(0, Math.min(rows[key].total, kept[key] | 0)); }
      });
    } catch (e) { /* nothing kept */ }

    function keep() {
      var pool = {};
      Object.keys(rows).forEach(function (key) { pool[key] = rows[key].picked - rows[key].boxed; });
      try { sessionStorage.setItem(storeKey, JSON.stringify(pool)); } catch (e) { /* private mode */ }
    }

    function show(row) {
      row.cell.textContent = row.picked + " / " + row.total;
      row.tr.classList.toggle("done", row.picked >= row.total);
    }
    Object.keys(rows).forEach(function (key) { show(rows[key]); });

    function label(row) { return row.name === row.sku ? row.sku : row.name + " (" + row.sku + ")"; }

    function units(shipment) {
      var need = {};
      shipment.lines.forEach(function (line) {
        var key = line.sku.toUpperCase();
        need[key] = (need[key] || 0) + line.quantity;
      });
      return need;
    }

    function missing(shipment) {
      var need = units(shipment);
      return Object.keys(need).map(function (key) {
        var row = rows[key];
        var pool = row ? row.picked - row.boxed : 0;
        return { key: key, count: Math.max(0, need[key] - pool) };
      }).filter(function (m) { return m.count > 0; });
    }

    function select(shipment) {
      selected = shipment;
      selectedLine.textContent = shipment ? "Selected: " + shipment.id + " (" + shipment.status + ")" : "No shipment selected.";
    }

    function mark(shipment) {
      var card = document.getElementById("shipment-" + shipment.id);
      if (!card) { return; }
      card.setAttribute("data-status", shipment.status);
      var status = card.querySelector(".status");
      if (status) { status.textContent = shipment.status; status.className = "status status-" + shipment.status; }
      // The card's own buttons for a step already done by scanning would only be refused now.
      var done = shipment.status === "shipped" ? ".actions" : ".actions form[action$='/pack']";
      card.querySelectorAll(done).forEach(function (el) { el.remove(); });
    }

    function pick(row) {
      if (row.picked >= row.total) {
        speak("All " + row.total + " of " + label(row) + " are picked already: put this one back.", "error");
        return;
      }
      row.picked += 1;
      show(row);
      keep();
      var text = "Picked " + label(row) + ": " + row.picked + " of " + row.total + "." + (row.bin ? " Bin " + row.bin + "." : "");
      var left = Object.keys(rows).filter(function (key) { return rows[key].picked < rows[key].total; });
      if (!left.length) { text += " Everything on the pick list is picked: scan each shipment to pack it."; }
      speak(text, "ok");
    }

    function pack(shipment) {
      var short = missing(shipment);
      if (short.length) {
        speak("Shipment " + shipment.id + " still needs " + short.map(function (m) {
          return m.count + " × " + (rows[m.key] ? label(rows[m.key]) : m.key);
        }).join(", ") + ". Pick them, then scan the shipment again.", "error");
        return null;
      }
      speak("Packing " + shipment.id + "…", "busy");
      return post("/dispatch/scan/pack", { shipment_id: shipment.id }).then(function (answer) {
        if (!answer.ok) { speak(answer.say, "error"); return; }
        var need = units(shipment);
        Object.keys(need).forEach(function (key) { if (rows[key]) { rows[key].boxed += need[key]; } });
        keep();
        shipment.status = "packed";
        if (answer.carrier) { shipment.carrier = answer.carrier; }
        mark(shipment);
        select(shipment);
        speak(answer.say, "ok");
      });
    }

    function chooseShipment(shipment) {
      if (shipment.status === "shipped" || shipment.status === "delivered") {
        select(null);
        speak("Shipment " + shipment.id + " was handed over already" + (shipment.carrier ? " to " + shipment.carrier : "") +
              (shipment.tracking ? ", tracking " + shipment.tracking : "") + ".", "error");
        return null;
      }
      if (shipment.status === "withdrawn") {
        select(null);
        speak("Shipment " + shipment.id + " was withdrawn (its order was cancelled): do not pack it.", "error");
        return null;
      }
      select(shipment);
      if (shipment.status === "packed") {
        speak("Shipment " + shipment.id + " is packed already. Scan the tracking number to hand it to " +
              (shipment.carrier || "its carrier") + ".", "ok");
        return null;
      }
      return pack(shipment);
    }

    function ship(shipment, code) {
      if (!TRACKING.test(code)) {
        speak("“" + code + "” is not a tracking number (letters, digits and dashes only). Scan the carrier's label.", "error");
        return null;
      }
      speak("Handing " + shipment.id + " over…", "busy");
      return post("/dispatch/scan/ship", { shipment_id: shipment.id, tracking_number: code }).then(function (answer) {
        if (!answer.ok) { speak(answer.say, "error"); return; }
        shipment.status = "shipped";
        shipment.carrier = answer.carrier;
        shipment.tracking = answer.tracking_number;
        mark(shipment);
        select(null);
        var open = Object.keys(shipments).filter(function (key) {
          return ["queued", "picking", "packed"].indexOf(shipments[key].status) >= 0;
        });
        speak(answer.say + (open.length ? " " + plural(open.length, "shipment") + " to go." : " The wave is handed over."), "ok");
      });
    }

    scanner(input, function (code) {
      var key = code.toUpperCase();
      if (rows[key]) { return pick(rows[key]); }
      if (shipments[key]) { return chooseShipment(shipments[key]); }
      if (selected && selected.status === "packed") { return ship(selected, code); }
      if (selected) {
        speak("Unknown code “" + code + "”: not a product on this pick list nor a shipment of this wave, and " +
              selected.id + " is not packed yet, so it cannot be its tracking number: pack it first.", "error");
        return null;
      }
      speak("Unknown code “" + code + "”: not a product on this pick list nor a shipment of this wave. " +
            "To hand a parcel over, scan its shipment first, then the tracking number.", "error");
      return null;
    });
  }

  // --- the dock --------------------------------------------------------------------------------

  function dockPage() {
    var input = document.getElementById("dock-input");
    var parcels = {};
    var carriers = {};
    var selected = null;

    document.querySelectorAll("tr[data-shipment-id]").forEach(function (tr) {
      var p = { id: tr.getAttribute("data-shipment-id"), carrier: tr.getAttribute("data-carrier"), tr: tr,
                tracking: null, state: "packed" };
      parcels[p.id.toUpperCase()] = p;
    });
    document.querySelectorAll("button.handover").forEach(function (button) {
      var code = button.getAttribute("data-carrier");
      carriers[code.toUpperCase()] = { code: code, button: button };
      button.addEventListener("click", function () { handOver(carriers[code.toUpperCase()]).then(function () { input.focus(); }); });
    });

    function ready(code) {
      return Object.keys(parcels).map(function (k) { return parcels[k]; }).filter(function (p) {
        return p.carrier === code && p.state === "packed" && p.tracking;
      });
    }

    function refresh(code) {
      var carrier = carriers[code.toUpperCase()];
      if (!carrier) { return; }
      var n = ready(code).length;
      carrier.button.disabled = n === 0;
      carrier.button.querySelector(".ready-count").textContent = String(n);
    }

    function handOver(carrier) {
      var batch = ready(carrier.code);
      if (!batch.length) {
        speak("No parcel for " + carrier.code + " has a tracking number yet: scan a shipment, then its tracking number.", "error");
        return Promise.resolve();
      }
      speak("Handing " + plural(batch.length, "parcel") + " to " + carrier.code + "…", "busy");
      return post("/dispatch/scan/handover", {
        carrier: carrier.code,
        parcels: batch.map(function (p) { return { shipment_id: p.id, tracking_number: p.tracking }; })
      }).then(function (answer) {
        if (!answer.ok) { speak(answer.say, "error"); return; }
        (answer.shipped || []).forEach(function (s) {
          var p = parcels[s.shipment_id.toUpperCase()];
          if (p) { p.state = "shipped"; p.tr.classList.add("shipped"); p.tr.querySelector(".state").textContent = "handed to " + s.carrier; }
        });
        (answer.refused || []).forEach(function (s) {
          var p = parcels[s.shipment_id.toUpperCase()];
          if (p) { p.tr.classList.add("refused"); p.tr.querySelector(".state").textContent = "refused: " + s.reason; }
        });
        refresh(carrier.code);
        speak(answer.say, (answer.refused || []).length ? "error" : "ok");
      });
    }

    scanner(input, function (code) {
      var key = code.toUpperCase();
      if (parcels[key]) {
        var p = parcels[key];
        if (p.state !== "packed") { speak("Shipment " + p.id + " was handed over already.", "error"); return null; }
        if (!p.carrier) {
          speak("No carrier fits " + p.id + ": hand it over from its own page with a carrier chosen.", "error");
          return null;
        }
        selected = p;
        document.querySelectorAll("tr.selected").forEach(function (tr) { tr.classList.remove("selected"); });
        p.tr.classList.add("selected");
        speak("Shipment " + p.id + " for " + p.carrier + ": scan its tracking number.", "ok");
        return null;
      }
      if (selected) {
        if (!TRACKING.test(code)) {
          speak("“" + code + "” is not a tracking number (letters, digits and dashes only).", "error");
          return null;
        }
        var taken = Object.keys(parcels).filter(function (k) { return parcels[k] !== selected && parcels[k].tracking === code; });
        if (taken.length) { speak("Tracking number " + code + " is on " + parcels[taken[0]].id + " already.", "error"); return null; }
        selected.tracking = code;
        selected.tr.querySelector(".tracking").textContent = code;
        selected.tr.classList.remove("selected");
        var carrier = selected.carrier;
        selected = null;
        refresh(carrier);
        speak(plural(ready(carrier).length, "parcel") + " ready for " + carrier + ". Scan the next parcel, or " + carrier +
              " to hand them over.", "ok");
        return null;
      }
      if (carriers[key]) { return handOver(carriers[key]); }
      speak("Unknown code “" + code + "”: not a packed parcel on this dock nor a carrier here.", "error");
      return null;
    });

    var deliverForm = document.getElementById("deliver-form");
    var deliverInput = document.getElementById("deliver-input");
    deliverForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var id = deliverInput.value.trim();
      deliverInput.value = "";
      if (!id) { return; }
      speak("Confirming delivery of " + id + "…", "busy");
      post("/dispatch/scan/delivered", { shipment_id: id }).then(function (answer) {
        speak(answer.say, answer.ok ? "ok" : "error");
        deliverInput.focus();
      });
    });
  }

  // --- the dispatch board: Waiting and the SLA panel, refreshed from one answer ------------------

  function board(heading) {
    var seconds = Math.min(Math.max(parseInt(heading.getAttribute("data-live-seconds"), 10) || 30, 2), 300);
    var url = heading.getAttribute("data-live");
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
        if (r.redirected || !r.ok) { throw new Error("sign-in needed or service down"); }
        return r.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        ["waiting", "sla-panel"].forEach(function (id) {
          var now = document.getElementById(id);
          var next = fresh.getElementById(id);
          if (now && next) { now.replaceWith(document.importNode(next, true)); }
        });
      }).catch(function () { /* keep the last figures; the next full load shows the reason */ });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    say = document.getElementById("scan-say");
    var printButton = document.getElementById("print-pick-list");
    if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
    var wave = document.getElementById("scan");
    if (wave) { wavePage(wave); }
    if (document.getElementById("dock-input")) { dockPage(); }
    var heading = document.getElementById("board");
    if (heading && heading.getAttribute("data-live")) { board(heading); }
  });
})();
