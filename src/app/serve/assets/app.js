// kindling's page: every model of the chosen data set on one image, side by side.
"use strict";
const $ = (id) => document.getElementById(id);
let models = [];
let dataset = null;

function setStatus(text) { $("status").textContent = text || ""; }

async function loadModels() {
  const r = await fetch("/api/models");
  models = await r.json();
  const sets = [...new Set(models.map((m) => m.dataset))];
  const nav = $("datasets");
  nav.innerHTML = "";
  for (const d of sets) {
    const b = document.createElement("button");
    b.textContent = d;
    b.dataset.name = d;
    b.onclick = () => { choose(d); randomImage(); };
    nav.appendChild(b);
  }
  const wanted = new URLSearchParams(location.search).get("dataset");
  choose(sets.includes(wanted) ? wanted : sets[0]);
}

// The data set's models as cards, before any image: kind, recorded accuracy and split.
function choose(d) {
  dataset = d;
  shown += 1; // an answer still on its way for the previous data set is dropped
  for (const b of $("datasets").children) b.classList.toggle("active", b.dataset.name === d);
  $("draw").hidden = !(d === "mnist" || d === "fashion-mnist");
  $("shown").hidden = true;
  $("results").dataset.image = "";
  render([]);
}

// Each classification's number: only the latest one's answer is shown.
let shown = 0;

async function classify(blob, caption) {
  const mine = ++shown;
  setStatus("classifying…");
  $("preview").src = URL.createObjectURL(blob);
  $("caption").textContent = caption || "";
  $("shown").hidden = false;
  const r = await fetch(`/api/classify?dataset=${encodeURIComponent(dataset)}`, { method: "POST", body: blob });
  const j = await r.json();
  if (mine !== shown) return;
  if (!r.ok) { setStatus(j.error || `error ${r.status}`); return; }
  setStatus("");
  render(j.results);
  $("results").dataset.image = caption || "";
}

function pct(p) { return `${(100 * p).toFixed(1)}%`; }

// One card per model of the data set; those in `results` with their answer.
function render(results) {
  const out = $("results");
  out.innerHTML = "";
  for (const m of models.filter((x) => x.dataset === dataset)) {
    const res = results.find((x) => x.id === m.id);
    const card = document.createElement("article");
    card.className = "card";
    card.dataset.model = m.id;
    card.dataset.kind = m.kind;
    if (res) card.dataset.top = res.top[0].class;
    const acc = m.accuracy == null ? (m.command || "") : `${pct(m.accuracy)} ${m.split}`;
    card.innerHTML = "<h2></h2><div class=\"meta\"></div>";
    card.querySelector("h2").textContent = m.title || m.kind;
    card.querySelector(".meta").textContent = `${m.id} · ${acc}` + (res ? ` · ${res.ms.toFixed(1)} ms` : "");
    if (!res) {
      const wait = document.createElement("p");
      wait.className = "meta waiting";
      wait.textContent = "waiting for an image";
      card.appendChild(wait);
    }
    (res ? res.top : []).forEach((t, i) => {
      const row = document.createElement("div");
      row.className = "bar" + (i === 0 ? " top" : "");
      row.innerHTML = `<span class="label"></span><span><span class="fill"></span></span><span>${pct(t.p)}</span>`;
      row.querySelector(".label").textContent = t.class;
      row.querySelector(".fill").style.width = pct(t.p);
      card.appendChild(row);
    });
    if (res && res.neighbours) {
      const row = document.createElement("div");
      row.className = "neighbours";
      for (const n of res.neighbours) {
        const fig = document.createElement("figure");
        fig.innerHTML = "<img><figcaption></figcaption>";
        fig.querySelector("img").src = n.picture;
        fig.querySelector("img").alt = n.class;
        fig.querySelector("figcaption").textContent = n.class;
        row.appendChild(fig);
      }
      card.appendChild(row);
      const cap = document.createElement("div");
      cap.className = "meta";
      cap.textContent = res.picture_title;
      card.appendChild(cap);
    }
    if (res && res.picture) {
      const img = document.createElement("img");
      img.className = "look";
      img.src = res.picture;
      img.alt = res.picture_title;
      img.title = res.picture_title;
      card.appendChild(img);
      const cap = document.createElement("div");
      cap.className = "meta";
      cap.textContent = res.picture_title;
      card.appendChild(cap);
    }
    const d = document.createElement("details");
    d.innerHTML = "<summary>model card</summary><table></table>";
    const rows = [["parameters", m.parameters], ["epochs", m.epochs], ["training time", m.training_seconds == null ? "" : `${(m.training_seconds / 60).toFixed(1)} min`],
      ["machine", m.machine], ["test-time augmentation", m.tta], ["command", m.command]];
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      tr.innerHTML = "<td></td><td><code></code></td>";
      tr.children[0].textContent = k;
      tr.querySelector("code").textContent = v == null ? "" : String(v);
      d.querySelector("table").appendChild(tr);
    }
    // The pictures the card offers, fetched when it is opened (a confusion matrix is computed
    // on the server's first request for it).
    const pictures = Object.entries(m.pictures || {});
    for (const [name, url] of pictures) {
      const img = document.createElement("img");
      img.className = "look";
      img.alt = name === "confusion" ? "confusion matrix" : "first-layer filters";
      img.dataset.src = url;
      d.appendChild(img);
    }
    d.addEventListener("toggle", () => {
      if (!d.open) return;
      for (const img of d.querySelectorAll("img[data-src]")) if (!img.src) img.src = img.dataset.src;
    });
    card.appendChild(d);
    out.appendChild(card);
  }
}

async function randomImage() {
  const mine = shown;
  setStatus("fetching a held-out image…");
  const r = await fetch(`/api/random?dataset=${encodeURIComponent(dataset)}`);
  if (mine !== shown) return; // something else was shown meanwhile
  if (!r.ok) { const j = await r.json(); setStatus(j.error); return; }
  const label = r.headers.get("x-kindling-label");
  await classify(await r.blob(), `held-out image, labelled ${label}`);
}

// Drawing: white strokes on black, classified at the model's own size (the server resizes).
function setUpCanvas() {
  const c = $("canvas");
  const ctx = c.getContext("2d");
  const clear = () => { ctx.fillStyle = "black"; ctx.fillRect(0, 0, c.width, c.height); };
  clear();
  let down = false;
  const at = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  c.addEventListener("pointerdown", (e) => { down = true; ctx.beginPath(); ctx.moveTo(...at(e)); });
  c.addEventListener("pointermove", (e) => {
    if (!down) return;
    ctx.lineWidth = 22; ctx.lineCap = "round"; ctx.strokeStyle = "white";
    ctx.lineTo(...at(e)); ctx.stroke();
  });
  window.addEventListener("pointerup", () => { down = false; });
  $("clear").onclick = clear;
  $("classify-drawing").onclick = () => c.toBlob((b) => classify(b, "your drawing"), "image/png");
}

function setUpInput() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) classify(f, f.name);
  });
  $("file").addEventListener("change", (e) => { const f = e.target.files[0]; if (f) classify(f, f.name); });
  document.addEventListener("paste", (e) => {
    const item = [...e.clipboardData.items].find((i) => i.type.startsWith("image/"));
    if (item) classify(item.getAsFile(), "pasted image");
  });
  $("random").onclick = randomImage;
}

setUpInput();
setUpCanvas();
// The first screen: the first data set's models, classifying one of its held-out images.
loadModels().then(randomImage);
