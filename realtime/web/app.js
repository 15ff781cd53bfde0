// The page of `stylize-video serve`: the MJPEG stream plus controls over a small JSON API.
// A token given as ?token=... in the page address is passed on to every request.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
  return body;
}

function say(text) {
  $("msg").textContent = text;
}

function control(values) {
  return api("/api/controls", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(values),
  }).then(show, (e) => say(e.message));
}

// -- stream: reconnect after an error (server restart, viewer limit) ---------------------
function startStream() {
  const img = $("view");
  img.onerror = () => {
    $("stream-msg").hidden = false;
    $("stream-msg").textContent = "stream unavailable (viewer limit reached or server down); retrying…";
    setTimeout(startStream, 3000);
  };
  img.onload = () => { $("stream-msg").hidden = true; };
  img.src = withToken("/stream.mjpg?t=" + Date.now());
}

// -- styles -------------------------------------------------------------------------------
let current = { style_index: 0 };
let thumbsPending = false;

function renderStyles(list) {
  const ul = $("styles");
  ul.textContent = "";
  thumbsPending = false;
  for (const s of list) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.title = s.name;
    b.dataset.index = s.index;
    if (s.thumbnail) {
      const im = document.createElement("img");
      im.alt = s.name;
      im.src = withToken(`/api/styles/${s.index}/thumbnail?v=${s.index}`);
      b.append(im);
    } else {
      thumbsPending = true;
      const ph = document.createElement("div");
      ph.className = "ph";
      ph.textContent = "preview…";
      b.append(ph);
    }
    const label = document.createElement("span");
    label.textContent = s.name;
    b.append(label);
    b.onclick = () => control({ style: s.index });
    li.append(b);
    ul.append(li);
  }
  markActive();
}

function markActive() {
  for (const b of document.querySelectorAll("#styles button")) {
    b.classList.toggle("active", Number(b.dataset.index) === current.style_index);
  }
}

async function loadStyles() {
  try {
    const r = await api("/api/styles");
    show(r);
    renderStyles(r.styles);
    if (!r.controllable) say("this processor has one fixed style");
  } catch (e) {
    say(e.message);
  }
  if (thumbsPending) setTimeout(loadStyles, 1500);
}

// -- state shown in the controls ------------------------------------------------------------
function show(state) {
  if (!state || state.style_index === undefined) return;
  current = state;
  if (document.activeElement !== $("strength")) {
    $("strength").value = state.strength;
    $("strength-value").textContent = Number(state.strength).toFixed(2);
  }
  $("preserve").checked = state.preserve_color;
  $("sbs").checked = state.side_by_side;
  for (const id of ["strength", "preserve"]) $(id).disabled = !state.controllable;
  markActive();
}

async function pollStatus() {
  try {
    const s = await api("/api/status");
    $("status").textContent =
      `${s.fps.toFixed(1)} fps · latency ${Math.round(s.latency_ms)} ms · ` +
      `${s.clients} viewer${s.clients === 1 ? "" : "s"} · style: ${s.style}`;
    if (s.style_index !== current.style_index) show(s);
  } catch (e) {
    $("status").textContent = "status unavailable: " + e.message;
  }
  setTimeout(pollStatus, 1000);
}

// -- wiring ------------------------------------------------------------------------------------
let strengthTimer = null;
$("strength").addEventListener("input", (e) => {
  $("strength-value").textContent = Number(e.target.value).toFixed(2);
  clearTimeout(strengthTimer);
  strengthTimer = setTimeout(() => control({ strength: Number(e.target.value) }), 120);
});
$("preserve").addEventListener("change", (e) => control({ preserve_color: e.target.checked }));
$("sbs").addEventListener("change", (e) => control({ side_by_side: e.target.checked }));
$("snapshot").addEventListener("click", (e) => {
  e.currentTarget.href = withToken("/api/snapshot?format=png");
});
$("upload").addEventListener("submit", async (e) => {
  e.preventDefault();
  const file = $("file").files[0];
  if (!file) return say("choose an image first");
  const form = new FormData();
  form.append("file", file);
  say("computing the style…");
  try {
    const r = await api("/api/styles", { method: "POST", body: form });
    say(`added ${r.name}`);
    await control({ style: r.index });
    await loadStyles();
  } catch (err) {
    say(err.message);
  }
});

startStream();
loadStyles();
setTimeout(pollStatus, 700);  // after the stream request, so it counts this viewer
