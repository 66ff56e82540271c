// The rnnkit serve page: no libraries, no network beyond this server.
// Query parameters drive it too: /?model=NAME&prompt=...&text=...&series=...&texts=...&run=1
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let models = [];

function showError(message) { $("error").textContent = message || ""; }
function setStatus(s) { document.body.dataset.status = s; }

async function postJSON(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                body: JSON.stringify(body) });
  const data = await r.json().catch(() => ({ detail: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
  return data;
}

function current() { return models.find((m) => m.name === $("model").value); }

function pick() {
  const m = current();
  for (const task of ["lm", "translate", "forecast", "classify"]) {
    $(`panel-${task}`).hidden = !m || m.task !== task;
  }
  if (!m) return;
  $("model-info").textContent = `${m.task} model; accepts ${JSON.stringify(m.accepts)}`;
  if (m.task === "forecast" && !$("series").value) {
    const n = 3 * m.accepts.input_len;
    $("series").value = Array.from({ length: n }, (_, i) => Math.sin(i / 4).toFixed(3)).join(", ");
  }
}

// ---------------------------------------------------------------- generate (SSE over fetch)
async function generate() {
  const out = $("gen-out");
  out.textContent = $("prompt").value;
  const body = { model: current().name, prompt: $("prompt").value, stream: true,
                 max_tokens: +$("max-tokens").value, temperature: +$("temperature").value,
                 seed: +$("seed").value };
  const r = await fetch("/v1/generate", { method: "POST", body: JSON.stringify(body),
                                          headers: { "Content-Type": "application/json" } });
  if (!r.ok) { const e = await r.json(); throw new Error(e.detail); }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (block.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "{}");
      if (event === "token") out.textContent += data.text;
      else if (event === "done") out.textContent = data.text;
      else if (event === "error") throw new Error(data.detail);
    }
  }
  out.dataset.done = "true";
}

// ---------------------------------------------------------------- translate + heat-map
async function translate() {
  const data = await postJSON("/v1/translate", { model: current().name, text: $("source").value });
  const t = data.translations[0];
  $("tr-out").textContent = t.text;
  $("tr-nbest").replaceChildren(...[{ text: t.text, score: t.score }, ...t.alternatives].map((a) => {
    const li = document.createElement("li");
    li.textContent = `${a.text}  (log-prob ${a.score.toFixed(2)})`;
    return li;
  }));
  const part = t.attention ? t : t.parts[0];
  drawAttention($("attention"), part.attention, part.source_tokens,
                [...part.tokens, "<eos>"].slice(0, part.attention.length));
}

function drawAttention(canvas, matrix, cols, rows) {
  const ctx = canvas.getContext("2d");
  const left = 90, top = 70;
  const cell = Math.max(8, Math.min(40, Math.floor((canvas.width - left - 10) / cols.length),
                                    Math.floor((canvas.height - top - 10) / rows.length)));
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#1d2330";
  rows.forEach((w, i) => { ctx.textAlign = "right"; ctx.fillText(w, left - 6, top + i * cell + cell * 0.65); });
  cols.forEach((w, j) => {
    ctx.save(); ctx.translate(left + j * cell + cell * 0.6, top - 6); ctx.rotate(-Math.PI / 4);
    ctx.textAlign = "left"; ctx.fillText(w, 0, 0); ctx.restore();
  });
  matrix.forEach((row, i) => row.forEach((v, j) => {
    const shade = Math.round(255 * (1 - v));
    ctx.fillStyle = `rgb(${shade}, ${shade}, 255)`;
    ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
  }));
  canvas.dataset.rendered = `${matrix.length}x${cols.length}`;
}

// ---------------------------------------------------------------- forecast + plot
async function forecast() {
  const raw = $("series").value.trim();
  const body = { model: current().name };
  if (/[a-df-z]/i.test(raw.split("\n")[0])) body.csv = raw + "\n";  // a header row: CSV text
  else body.series = raw.split(/[\s,;]+/).filter(Boolean).map(Number);
  const data = await postJSON("/v1/forecast", body);
  const col = (rows) => rows && rows.map((r) => r[0]);
  $("fc-out").textContent = data.index.map((t, i) => `${t}: ${data.mean[i][0].toFixed(3)}` +
    (data.lower ? ` [${data.lower[i][0].toFixed(3)}, ${data.upper[i][0].toFixed(3)}]` : "")).join("\n");
  drawForecast($("forecast-plot"), col(data.history), col(data.mean), col(data.lower), col(data.upper));
}

function drawForecast(canvas, history, mean, lower, upper) {
  const ctx = canvas.getContext("2d");
  const all = [...history, ...mean, ...(lower || []), ...(upper || [])];
  const lo = Math.min(...all), hi = Math.max(...all), pad = 30, n = history.length + mean.length;
  const x = (i) => pad + (i * (canvas.width - 2 * pad)) / Math.max(1, n - 1);
  const y = (v) => canvas.height - pad - ((v - lo) / (hi - lo || 1)) * (canvas.height - 2 * pad);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const h = history.length;
  if (lower) {  // the interval band
    ctx.fillStyle = "rgba(36, 87, 197, 0.2)";
    ctx.beginPath();
    lower.forEach((v, i) => ctx.lineTo(x(h + i), y(v)));
    [...upper].reverse().forEach((v, i) => ctx.lineTo(x(h + upper.length - 1 - i), y(v)));
    ctx.closePath(); ctx.fill();
  }
  const line = (vals, offset, color) => {
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
    vals.forEach((v, i) => ctx.lineTo(x(offset + i), y(v))); ctx.stroke();
  };
  line(history, 0, "#1d2330");
  line([history[h - 1], ...mean], h - 1, "#2457c5");
  ctx.fillStyle = "#5b6475"; ctx.font = "12px system-ui, sans-serif";
  ctx.fillText(`history (${h}) · forecast (${mean.length})${lower ? " · interval" : ""}`, pad, 18);
  canvas.dataset.rendered = `${h}+${mean.length}`;
}

// ---------------------------------------------------------------- classify
async function classify() {
  const m = current();
  const raw = $("inputs").value.trim();
  const body = { model: m.name };
  if (m.accepts.input === "text") body.texts = raw.split("\n").filter((s) => s.trim());
  else body.series = JSON.parse(raw);
  const data = await postJSON("/v1/classify", body);
  const lines = m.accepts.input === "text" ? body.texts : body.series.map((_, i) => `series ${i}`);
  $("cl-out").replaceChildren(...data.predictions.map((p, i) => {
    const div = document.createElement("div");
    div.className = "result";
    const head = document.createElement("strong");
    head.textContent = `${lines[i]} → ${p.label}`;
    div.append(head);
    for (const [name, prob] of Object.entries(p.probabilities)) {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.innerHTML = `<span></span><span><span class="fill"></span></span><span></span>`;
      bar.children[0].textContent = name;
      bar.children[1].firstChild.style.width = `${(100 * prob).toFixed(1)}%`;
      bar.children[2].textContent = `${(100 * prob).toFixed(1)}%`;
      bar.setAttribute("aria-label", `${name}: ${(100 * prob).toFixed(1)} percent`);
      div.append(bar);
    }
    return div;
  }));
}

// ---------------------------------------------------------------- wiring
const actions = { lm: generate, translate, forecast, classify };

async function run(task) {
  showError("");
  setStatus("working");
  try { await actions[task](); setStatus("done"); }
  catch (err) { showError(err.message); setStatus("error"); }
}

for (const task of Object.keys(actions)) {
  $(`form-${task}`).addEventListener("submit", (e) => { e.preventDefault(); run(task); });
}
$("model").addEventListener("change", pick);

async function start() {
  try {
    models = (await (await fetch("/v1/models")).json()).models;
  } catch (err) { showError(`cannot list the models: ${err.message}`); setStatus("error"); return; }
  $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.task})`, m.name)));
  const fields = { prompt: "prompt", text: "source", series: "series", texts: "inputs",
                   max_tokens: "max-tokens", seed: "seed", temperature: "temperature" };
  for (const [key, id] of Object.entries(fields)) if (params.has(key)) $(id).value = params.get(key);
  if (params.has("model")) $("model").value = params.get("model");
  pick();
  setStatus("ready");
  if (params.get("run") === "1" && current()) await run(current().task);
}
start();
