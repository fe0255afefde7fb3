// Checkout page: the server renders everything; this polls /checkout/<id>/status every
// second and refreshes only what changes (status, progress, payments, countdown), and wires
// the copy buttons. Without it the page still shows how to pay.
"use strict";
(function () {
  const sid = document.body.dataset.session;
  const $ = (id) => document.getElementById(id);
  const TEXT = JSON.parse($("status-texts").textContent); // status -> [headline, detail]
  let failures = 0;

  function units(raw, decimals) {
    if (raw === null || raw === undefined) return "any amount";
    if (decimals === null || decimals === undefined) return raw + " (base units)";
    const v = BigInt(raw);
    const d = BigInt(decimals);
    const base = 10n ** d;
    const whole = (v / base).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    let frac = (v % base).toString().padStart(Number(d), "0").replace(/0+$/, "");
    return frac ? whole + "." + frac : whole;
  }

  function countdown(sec) {
    if (sec <= 0) return "Expired";
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return "Expires in " + (h ? h + ":" + mm + ":" + ss : m + ":" + ss);
  }

  // Write text only when it changed: the status is a live region, read out on change.
  function set(id, text) {
    const el = $(id);
    if (el.textContent !== text) el.textContent = text;
  }

  function render(d) {
    const sym = d.asset.symbol || (d.asset.kind === "native" ? "ETH" : "tokens");
    document.body.dataset.status = d.status;
    const [title, detail] = TEXT[d.status] || [d.status, ""];
    set("status-text", title);
    let extra = detail;
    const pending = d.transfers.filter((t) => t.state === "seen");
    if (d.status === "seen" && pending.length && d.required_confirmations) {
      const c = Math.max(...pending.map((t) => t.confirmations));
      extra = "Confirmations: " + c + " of " + d.required_confirmations + ".";
    }
    set("status-detail", extra);
    const pos = { waiting: 0, seen: 1, underpaid: 1, confirmed: 2, overpaid: 2, expired: 0 }[d.status] || 0;
    ["waiting", "seen", "confirmed"].forEach((s, i) => {
      $("step-" + s).className = i < pos || (i === pos && pos === 2) ? "done" : i === pos ? "now" : "";
    });
    const rem = $("remaining");
    if (d.status === "underpaid" && d.remaining) {
      rem.hidden = false;
      set("remaining", "Still to send: " + units(d.remaining, d.asset.decimals) + " " + sym);
    } else rem.hidden = true;
    const list = $("transfer-list");
    const items = d.transfers.filter((t) => t.state !== "reverted").map((t) => {
      const li = document.createElement("li");
      const a = document.createElement("span");
      a.textContent = units(t.amount, d.asset.decimals) + " " + sym;
      const b = document.createElement("span");
      b.className = "tx";
      b.textContent = t.tx_hash.slice(0, 10) + "…" + (t.state === "confirmed" ? " ✓" : " (" + t.confirmations + ")");
      li.append(a, b);
      return li;
    });
    if (items.map((li) => li.textContent).join("\n") !== Array.from(list.children, (li) => li.textContent).join("\n")) {
      list.replaceChildren(...items);
    }
    $("transfers").hidden = items.length === 0;
    const done = ["confirmed", "overpaid"].includes(d.status);
    set("expiry", done ? "" : countdown(d.expires_in_s));
    $("expires-at").hidden = done;
    document.title = title;
  }

  async function poll() {
    try {
      const r = await fetch("/checkout/" + encodeURIComponent(sid) + "/status", { cache: "no-store" });
      if (r.status === 404) { document.body.dataset.status = "missing"; set("status-text", "Payment not found"); return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      render(await r.json());
      failures = 0;
      $("conn").hidden = true;
    } catch (e) {
      failures += 1;
      if (failures > 2) $("conn").hidden = false;
    }
    setTimeout(poll, 1000);
  }

  document.querySelectorAll("button.copy").forEach((btn) => { btn.hidden = false; });
  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button.copy");
    if (!btn) return;
    const src = $(btn.dataset.copy);
    const text = src.tagName === "INPUT" ? src.value : src.textContent;
    try { await navigator.clipboard.writeText(text); } catch (e) { return; }
    btn.classList.add("done");
    const old = btn.textContent;
    btn.textContent = "Copied";
    setTimeout(() => { btn.textContent = old; btn.classList.remove("done"); }, 1500);
  });
  poll();
})();
