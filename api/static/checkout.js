// Checkout page: polls /checkout/<id>/status every second and updates without reloading.
"use strict";
(function () {
  const sid = document.body.dataset.session;
  const $ = (id) => document.getElementById(id);
  const TEXT = {
    waiting: ["Waiting for payment", "Send the exact amount to the address below."],
    seen: ["Payment seen", "Waiting for confirmations on the network."],
    confirmed: ["Payment confirmed", "Thank you. You can close this page."],
    overpaid: ["Payment confirmed (overpaid)", "More than the requested amount arrived."],
    underpaid: ["Partially paid", "Part of the amount arrived. Send the rest to the same address."],
    expired: ["Payment request expired", "This request is no longer valid. Ask for a new one."],
  };
  let last = null;
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

  function plainUnits(raw, decimals) {
    return units(raw, decimals).replace(/,/g, "");
  }

  function countdown(sec) {
    if (sec <= 0) return "Expired";
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return "Expires in " + (h ? h + ":" + mm + ":" + ss : m + ":" + ss);
  }

  function render(d) {
    const sym = d.asset.symbol || (d.asset.kind === "native" ? "ETH" : "tokens");
    document.body.dataset.status = d.status;
    $("merchant").textContent = d.label || "Payment";
    $("network").textContent = d.chain + " · " + d.chain_id;
    $("amount").textContent = units(d.amount, d.asset.decimals);
    $("amount-raw").value = d.amount ? plainUnits(d.amount, d.asset.decimals) : "";
    $("symbol").textContent = sym;
    $("address").textContent = d.address;
    if (!$("qr").getAttribute("src")) $("qr").src = "/checkout/" + encodeURIComponent(d.id) + "/qr.svg";
    $("qr-link").href = d.uri;
    $("open-wallet").href = d.uri;
    const [title, detail] = TEXT[d.status] || [d.status, ""];
    $("status-text").textContent = title;
    let extra = detail;
    const pending = d.transfers.filter((t) => t.state === "seen");
    if (d.status === "seen" && pending.length && d.required_confirmations) {
      const c = Math.max(...pending.map((t) => t.confirmations));
      extra = "Confirmations: " + c + " of " + d.required_confirmations + ".";
    }
    $("status-detail").textContent = extra;
    const order = ["waiting", "seen", "confirmed"];
    const pos = { waiting: 0, seen: 1, underpaid: 1, confirmed: 2, overpaid: 2, expired: 0 }[d.status] || 0;
    order.forEach((s, i) => {
      const li = $("step-" + s);
      li.className = i < pos || (i === pos && pos === 2) ? "done" : i === pos ? "now" : "";
    });
    $("bar").style.width = ({ waiting: 8, seen: 55, underpaid: 55, confirmed: 100, overpaid: 100, expired: 100 }[d.status] || 0) + "%";
    const rem = $("remaining");
    if (d.status === "underpaid" && d.remaining) {
      rem.hidden = false;
      rem.textContent = "Still to send: " + units(d.remaining, d.asset.decimals) + " " + sym;
    } else rem.hidden = true;
    const list = $("transfer-list");
    list.replaceChildren();
    d.transfers.filter((t) => t.state !== "reverted").forEach((t) => {
      const li = document.createElement("li");
      const a = document.createElement("span");
      a.textContent = units(t.amount, d.asset.decimals) + " " + sym;
      const b = document.createElement("span");
      b.className = "tx";
      b.textContent = t.tx_hash.slice(0, 10) + "…" + (t.state === "confirmed" ? " ✓" : " (" + t.confirmations + ")");
      li.append(a, b);
      list.append(li);
    });
    $("transfers").hidden = list.children.length === 0;
    $("warning").textContent = "Send only " + sym + (d.asset.contract ? " (token " + d.asset.contract + ")" : "") +
      " on " + d.chain + " (chain id " + d.chain_id + "). Other assets or networks are lost.";
    const done = ["confirmed", "overpaid"].includes(d.status);
    $("expiry").textContent = done ? "" : countdown(d.expires_in_s);
    document.title = title;
    last = d;
  }

  async function poll() {
    try {
      const r = await fetch("/checkout/" + encodeURIComponent(sid) + "/status", { cache: "no-store" });
      if (r.status === 404) { document.body.dataset.status = "missing"; $("status-text").textContent = "Payment not found"; return; }
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

  document.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button.copy");
    if (!btn) return;
    const src = $(btn.dataset.copy);
    const text = src.value !== undefined && src.tagName === "INPUT" ? src.value : src.textContent;
    try { await navigator.clipboard.writeText(text); } catch (e) { return; }
    btn.classList.add("done");
    const old = btn.textContent;
    btn.textContent = "Copied";
    setTimeout(() => { btn.textContent = old; btn.classList.remove("done"); }, 1500);
  });
  void last;
  poll();
})();
