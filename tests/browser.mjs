// Drives kindling's page in headless Chromium over the DevTools protocol (Node's WebSocket, no
// packages): reads the first screen (the first data set's model cards, and the held-out image the
// page classifies by itself when its data is there), uploads a PNG, reads each model's top class,
// draws a stroke on the MNIST canvas and classifies it, takes screenshots. Prints one JSON line:
// {"first": {"cards": [id], "titles": [title], "image": caption, "tops": {id: class}},
//  "upload": {id: class}, "drawing": {...}}.
// Environment: CHROMIUM, URL, UPLOAD, SCREENSHOT, PROFILE; FIRST_SCREENSHOT (optional: the first
// screen, once its held-out image is classified), HELD_OUT=1 (wait for that image). Run by
// tests/serve.rs; scripts/serve_screenshot.sh takes docs/serve.png with it.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";

const env = (k) => { if (!process.env[k]) throw new Error(`${k} not set`); return process.env[k]; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const profile = env("PROFILE");
mkdirSync(profile, { recursive: true });
const browser = spawn(env("CHROMIUM"), [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--window-size=1280,1000", `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank",
], { stdio: "ignore" });
const deadline = Date.now() + 90_000;
const until = async (what, f) => {
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
};
try {
  const portFile = `${profile}/DevToolsActivePort`;
  await until("Chromium's DevTools port", () => existsSync(portFile) && readFileSync(portFile, "utf8").includes("\n"));
  const port = readFileSync(portFile, "utf8").split("\n")[0];
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((t) => t.type === "page");
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  let next = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) {
      const { ok, fail } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? fail(new Error(JSON.stringify(msg.error))) : ok(msg.result);
    }
  };
  const send = (method, params = {}) => new Promise((ok, fail) => {
    const id = ++next;
    pending.set(id, { ok, fail });
    ws.send(JSON.stringify({ id, method, params }));
  });
  const js = async (expr) => (await send("Runtime.evaluate", { expression: expr, returnByValue: true, awaitPromise: true })).result.value;
  const tops = () => js(`JSON.stringify(Object.fromEntries([...document.querySelectorAll('#results .card')].map(c => [c.dataset.model, c.dataset.top])))`);

  await send("Page.enable");
  await send("Page.navigate", { url: env("URL") });
  await until("the model list", () => js("document.querySelectorAll('#datasets button').length > 0"));

  // The first screen, before any upload: the data set's models as cards, and (where its held-out
  // images are on the machine) one of them classified by every model.
  await until("the first screen's cards", () => js("document.querySelectorAll('#results .card').length > 0"));
  const heldOut = process.env.HELD_OUT === "1";
  if (heldOut) {
    await until("the held-out image's results", () => js("(document.querySelector('#results').dataset.image || '').startsWith('held-out image') && [...document.querySelectorAll('#results .card')].every(c => c.dataset.top)"));
    await sleep(300);
  }
  const first = JSON.parse(await js(`JSON.stringify({
    cards: [...document.querySelectorAll('#results .card')].map(c => c.dataset.model),
    titles: [...document.querySelectorAll('#results .card h2')].map(h => h.textContent),
    image: document.querySelector('#results').dataset.image,
  })`));
  first.tops = JSON.parse(await tops());
  if (process.env.FIRST_SCREENSHOT) {
    const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
    writeFileSync(process.env.FIRST_SCREENSHOT, Buffer.from(shot.data, "base64"));
  }

  // Upload: the file input, as a user choosing a file.
  const { root } = await send("DOM.getDocument");
  const { nodeId } = await send("DOM.querySelector", { nodeId: root.nodeId, selector: "#file" });
  await send("DOM.setFileInputFiles", { nodeId, files: [env("UPLOAD")] });
  await until("the upload's results", async () => (await js("document.querySelector('#results').dataset.image")) === "upload.png" && JSON.parse(await tops())["cifar10-cnn"]);
  await sleep(300);
  const upload = JSON.parse(await tops());
  const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
  writeFileSync(env("SCREENSHOT"), Buffer.from(shot.data, "base64"));

  // Draw a stroke on the MNIST canvas and classify it.
  await js("document.querySelector('#datasets button[data-name=\"mnist\"]').click()");
  const r = JSON.parse(await js("JSON.stringify(document.querySelector('#canvas').getBoundingClientRect())"));
  const at = (fx, fy) => ({ x: r.x + fx * r.width, y: r.y + fy * r.height });
  const mouse = (type, p) => send("Input.dispatchMouseEvent", { type, x: p.x, y: p.y, button: "left", buttons: type === "mouseReleased" ? 0 : 1, clickCount: 1 });
  await mouse("mousePressed", at(0.5, 0.2));
  for (let i = 1; i <= 12; i++) await mouse("mouseMoved", at(0.5, 0.2 + 0.05 * i));
  await mouse("mouseReleased", at(0.5, 0.8));
  await js("document.querySelector('#classify-drawing').click()");
  await until("the drawing's results", async () => (await js("document.querySelector('#results').dataset.image")) === "your drawing" && JSON.parse(await tops())["mnist-linear"]);
  const drawing = JSON.parse(await tops());
  console.log(JSON.stringify({ first, upload, drawing }));
  ws.close();
} finally {
  browser.kill();
}
