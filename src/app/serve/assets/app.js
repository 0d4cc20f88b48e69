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
    b.onclick = () => choose(d);
    nav.appendChild(b);
  }
  const wanted = new URLSearchParams(location.search).get("dataset");
  choose(sets.includes(wanted) ? wanted : sets[0]);
}

function choose(d) {
  dataset = d;
  for (const b of $("datasets").children) b.classList.toggle("active", b.dataset.name === d);
  $("draw").hidden = !(d === "mnist" || d === "fashion-mnist");
  $("results").innerHTML = "";
}

async function classify(blob, caption) {
  setStatus("classifying…");
  $("preview").src = URL.createObjectURL(blob);
  $("caption").textContent = caption || "";
  $("shown").hidden = false;
  const r = await fetch(`/api/classify?dataset=${encodeURIComponent(dataset)}`, { method: "POST", body: blob });
  const j = await r.json();
  if (!r.ok) { setStatus(j.error || `error ${r.status}`); return; }
  setStatus("");
  render(j.results);
}

function pct(p) { return `${(100 * p).toFixed(1)}%`; }

function render(results) {
  const out = $("results");
  out.innerHTML = "";
  for (const res of results) {
    const m = models.find((x) => x.id === res.id) || {};
    const card = document.createElement("article");
    card.className = "card";
    card.dataset.model = res.id;
    card.dataset.kind = res.kind;
    card.dataset.top = res.top[0].class;
    const acc = m.accuracy == null ? (m.command || "") : `${pct(m.accuracy)} ${m.split}`;
    card.innerHTML = `<h2>${res.kind}</h2><div class="meta">${res.id} · ${acc} · ${res.ms.toFixed(1)} ms</div>`;
    res.top.forEach((t, i) => {
      const row = document.createElement("div");
      row.className = "bar" + (i === 0 ? " top" : "");
      row.innerHTML = `<span class="label"></span><span><span class="fill"></span></span><span>${pct(t.p)}</span>`;
      row.querySelector(".label").textContent = t.class;
      row.querySelector(".fill").style.width = pct(t.p);
      card.appendChild(row);
    });
    if (res.neighbours) {
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
    if (res.picture) {
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
    if (m.kind !== "kNN") {
      const c = document.createElement("img");
      c.className = "look";
      c.alt = "confusion matrix";
      c.loading = "lazy";
      d.addEventListener("toggle", () => { if (d.open && !c.src) c.src = `/api/models/${encodeURIComponent(res.id)}/confusion.png`; });
      d.appendChild(c);
    }
    if (m.kind === "CNN") {
      const f = document.createElement("img");
      f.className = "look";
      f.alt = "first-layer filters";
      f.loading = "lazy";
      f.src = `/api/models/${encodeURIComponent(res.id)}/filters.png`;
      d.appendChild(f);
    }
    card.appendChild(d);
    out.appendChild(card);
  }
}

async function randomImage() {
  setStatus("fetching a held-out image…");
  const r = await fetch(`/api/random?dataset=${encodeURIComponent(dataset)}`);
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
loadModels().then(() => {
  if (new URLSearchParams(location.search).get("demo") === "random") randomImage();
});
