// Zero-install web view of ros_detect: connects to the bridge's Foxglove WebSocket server with Foxglove's
// own client library and draws each frame with its boxes (main person green) and the main-person JSON,
// for one camera or, from a bridge with `sources`, for every camera side by side.
// Built into ros_detect/web/app.js by `npm run build` (esbuild); that built file is committed and shipped.
import { FoxgloveClient } from "@foxglove/ws-protocol";

// The channels the page reads per source: `/image`, ... of a single-camera bridge, `/cam1/image`, ... of one with
// `sources`. A source is a prefix with an image channel; one source draws into the page's own elements (the
// single-camera page), several get a tile each in a grid, with a selector to show one of them large.
const KINDS = ["/image", "/detections", "/main_person", "/bridge_stats"];
const KEEP = 30; // frames / documents kept while waiting for their partner (matched by capture stamp)
const BARE_AFTER_MS = 1000; // draw frames without boxes when no results arrived for this long
// The label ros_detect.detection.weights.RANDOM_INIT_LABEL puts in every document of an untrained model.
const RANDOM_INIT_LABEL = "random-init (NOT A REAL RESULT)";
const MAIN_COLOR = "#00ff00";
const OTHER_COLOR = "#ff9900";
const ALL = "all";

const statusEl = document.getElementById("status");
const statsEl = document.getElementById("stats");
const weightsEl = document.getElementById("weights");
const singleEl = document.getElementById("single");
const gridEl = document.getElementById("grid");
const selectorEl = document.getElementById("sources");
const tileTemplate = document.getElementById("tile-template");

// Test/automation hook: what is on screen right now. With one source its view fills the top level; with
// several, `sources[name]` holds each one's (same fields) and `selected` the selector's choice.
const state = {
  connected: false,
  paused: false, // set true to freeze the picture (tests sample pixels and screenshot the same frame)
  mode: null, // "single" | "grid", once the server advertised its channels
  selected: ALL,
  sources: {},
  errors: [],
};
Object.assign(state, viewState()); // the single camera's view (zeros in a grid)
window.rosDetectView = state;

function viewState() {
  return {
    imagesReceived: 0,
    mainPersonReceived: 0,
    framesDrawn: 0,
    lastDrawn: null, // {stamp, seq, mainBox, boxes, bare}
    displayLatencyMs: null,
    weights: null, // the weights label of the latest result
    untrained: false, // true while the red "untrained weights" banner is shown
  };
}

function stampKey(sec, nsec) {
  return BigInt(sec) * 1000000000n + BigInt(nsec);
}

function remember(map, key, value, onEvict) {
  map.set(key, value);
  while (map.size > KEEP) {
    const oldest = map.keys().next().value;
    if (onEvict) onEvict(map.get(oldest));
    map.delete(oldest);
  }
}

// Minimal protobuf reader for foxglove.CompressedImage: 1 timestamp{1 sec, 2 nsec}, 2 data, 3 format, 4 frame_id.
function readVarint(buf, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
}

function readFields(buf) {
  const fields = {};
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      fields[field] = v;
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      fields[field] = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
  return fields;
}

function decodeCompressedImage(bytes) {
  const f = readFields(bytes);
  const ts = f[1] ? readFields(f[1]) : {};
  const text = new TextDecoder();
  return {
    stamp: stampKey(ts[1] ?? 0, ts[2] ?? 0),
    data: f[2] ?? new Uint8Array(),
    format: f[3] ? text.decode(f[3]) : "jpeg",
    frameId: f[4] ? text.decode(f[4]) : "",
  };
}

function sameBox(a, b) {
  return a.every((v, i) => Math.abs(v - b[i]) <= 0.5);
}

// One source: its frames and documents, drawn into its elements {canvas, json, banner, weights, stats}.
class SourceView {
  constructor(els, st) {
    this.els = els;
    this.ctx = els.canvas.getContext("2d");
    this.st = st;
    this.frames = new Map(); // stamp -> {bitmap, frameId}
    this.detections = new Map(); // stamp -> detections doc
    this.mains = new Map(); // stamp -> main_person doc
    this.lastDrawnStamp = -1n;
    this.lastDrawnBare = false;
    this.lastResultAt = 0;
  }

  drawBox(box, color, width, text) {
    const ctx = this.ctx;
    const [x1, y1, x2, y2] = box;
    ctx.lineWidth = width;
    ctx.strokeStyle = color;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.font = "12px sans-serif";
    const tw = ctx.measureText(text).width + 6;
    const ty = y1 >= 16 ? y1 - 16 : y1 + 2;
    ctx.fillStyle = "rgba(0,0,0,0.6)";
    ctx.fillRect(x1, ty, tw, 15);
    ctx.fillStyle = color;
    ctx.fillText(text, x1 + 3, ty + 12);
  }

  draw(stamp, bare) {
    const frame = this.frames.get(stamp);
    const main = bare ? null : this.mains.get(stamp);
    if (state.paused || !frame || (!bare && !main)) return;
    // Never go back in time; the same frame may be drawn again once its results arrive after a bare draw.
    if (stamp < this.lastDrawnStamp || (stamp === this.lastDrawnStamp && (bare || !this.lastDrawnBare))) return;
    const det = bare ? null : this.detections.get(stamp);
    const canvas = this.els.canvas;
    if (canvas.width !== frame.bitmap.width || canvas.height !== frame.bitmap.height) {
      canvas.width = frame.bitmap.width;
      canvas.height = frame.bitmap.height;
    }
    this.ctx.drawImage(frame.bitmap, 0, 0);
    const boxes = [];
    const mainBox = main && main.box ? main.box : null;
    for (const d of det ? det.detections : []) {
      if (mainBox && sameBox(d.box, mainBox)) continue;
      this.drawBox(d.box, OTHER_COLOR, 1.5, `${d.label} ${d.score.toFixed(2)}`);
      boxes.push(d.box);
    }
    if (mainBox) {
      let label = "main person";
      if (main.score !== null) label += ` ${main.score.toFixed(2)}`;
      if (main.track_id !== null) label += ` #${main.track_id}`;
      if (main.held) label += " (held)";
      this.drawBox(mainBox, MAIN_COLOR, 3, label);
    }
    this.lastDrawnStamp = stamp;
    this.lastDrawnBare = bare;
    const st = this.st;
    st.framesDrawn += 1;
    st.displayLatencyMs = Date.now() - Number(stamp / 1000000n);
    st.lastDrawn = { stamp: stamp.toString(), seq: main ? main.seq : null, mainBox, boxes, bare };
    canvas.dataset.stamp = stamp.toString();
    canvas.dataset.mainBox = mainBox ? JSON.stringify(mainBox) : "";
    if (main) this.els.json.textContent = JSON.stringify(main, null, 2);
  }

  onImage(bytes) {
    const img = decodeCompressedImage(bytes);
    this.st.imagesReceived += 1;
    createImageBitmap(new Blob([img.data], { type: `image/${img.format}` }))
      .then((bitmap) => {
        remember(this.frames, img.stamp, { bitmap, frameId: img.frameId }, (old) => old.bitmap.close());
        this.draw(img.stamp, Date.now() - this.lastResultAt > BARE_AFTER_MS);
      })
      .catch((err) => state.errors.push(String(err)));
  }

  // Every result says which weights made it: untrained ones get a red banner a viewer cannot miss.
  showWeights(label) {
    if (typeof label !== "string" || label === this.st.weights) return;
    this.st.weights = label;
    this.st.untrained = label === RANDOM_INIT_LABEL;
    this.els.banner.hidden = !this.st.untrained;
    this.els.weights.textContent = `weights: ${label}`;
  }

  onDoc(kind, text) {
    const doc = JSON.parse(text);
    const stamp = stampKey(doc.stamp.sec, doc.stamp.nanosec);
    if (kind === "/detections") {
      remember(this.detections, stamp, doc);
      if (this.st.weights === null) this.showWeights(doc.weights); // main_person documents name it from now on
    } else if (kind === "/main_person") {
      this.st.mainPersonReceived += 1;
      this.showWeights(doc.weights);
      this.lastResultAt = Date.now();
      remember(this.mains, stamp, doc);
      this.draw(stamp, false);
    } else if (kind === "/bridge_stats") {
      const lat = doc.latency_ms.capture_to_view;
      const inf = doc.stage_ms.inference;
      const shown = this.st.displayLatencyMs;
      this.els.stats.textContent =
        `${doc.fps.toFixed(1)} fps · capture→view p50 ${lat && lat.p50 !== null ? lat.p50.toFixed(0) : "–"} ms` +
        ` · inference ${inf != null ? inf.toFixed(0) : "–"} ms · dropped ${doc.dropped}` +
        (shown !== null ? ` · on screen ${shown} ms after capture` : "");
    }
  }
}

// -- sources: one view per source, the single page or a grid of tiles -------------------------------------------
const views = new Map(); // source prefix ("" or "/cam1") -> SourceView

function sourceName(prefix) {
  return prefix.replace(/^\//, "");
}

function splitTopic(topic) {
  const kind = KINDS.find((k) => topic.endsWith(k));
  return kind === undefined ? null : { prefix: topic.slice(0, -kind.length), kind };
}

function addTile(prefix) {
  const name = sourceName(prefix) || "/";
  const tile = tileTemplate.content.firstElementChild.cloneNode(true);
  tile.id = `source-${name}`;
  tile.dataset.source = name;
  tile.querySelector(".name").textContent = name;
  gridEl.append(tile);
  const button = document.createElement("button");
  button.textContent = name;
  button.dataset.source = name;
  button.addEventListener("click", () => select(name));
  selectorEl.append(button);
  const st = viewState();
  state.sources[name] = st;
  const els = {};
  for (const key of ["canvas", "json", "banner", "weights", "stats"]) els[key] = tile.querySelector(`[data-el=${key}]`);
  return new SourceView(els, st);
}

// Show every tile (ALL) or one source large with its main-person document.
function select(name) {
  state.selected = name in state.sources ? name : ALL;
  gridEl.classList.toggle("one", state.selected !== ALL);
  for (const tile of gridEl.children) tile.hidden = state.selected !== ALL && tile.dataset.source !== state.selected;
  for (const button of selectorEl.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.source === state.selected));
  }
}

selectorEl.querySelector("button[data-source=all]").addEventListener("click", () => select(ALL));

function addSources(prefixes) {
  const fresh = prefixes.filter((p) => !views.has(p));
  if (fresh.length === 0) return;
  if (state.mode === "single") {
    location.reload(); // the server now carries other sources: start over as a grid
    return;
  }
  if (state.mode === null && prefixes.length === 1 && prefixes[0] === "") {
    state.mode = "single";
    const els = { canvas: document.getElementById("view"), json: document.getElementById("main-json") };
    Object.assign(els, { banner: document.getElementById("weights-banner"), weights: weightsEl, stats: statsEl });
    views.set("", new SourceView(els, state));
    return;
  }
  if (state.mode === null) {
    state.mode = "grid";
    singleEl.hidden = true;
    gridEl.hidden = false;
    selectorEl.hidden = false;
  }
  for (const prefix of fresh.sort()) views.set(prefix, addTile(prefix));
  statsEl.textContent = `${views.size} cameras`;
  select(new URLSearchParams(location.search).get("source") ?? state.selected);
}

function setStatus(text, ok) {
  statusEl.textContent = text;
  statusEl.className = ok ? "ok" : "bad";
}

async function wsUrl() {
  const params = new URLSearchParams(location.search);
  if (params.get("ws")) return params.get("ws");
  let port = 8765;
  try {
    port = (await (await fetch("config.json")).json()).ws_port;
  } catch (_err) {
    // served from elsewhere (e.g. a file): keep the default port
  }
  return `ws://${location.hostname || "127.0.0.1"}:${port}`;
}

function connect(url) {
  setStatus(`connecting to ${url}…`, false);
  // foxglove-sdk servers speak foxglove.sdk.v1; ws-protocol 0.8 only names the older subprotocol.
  const ws = new WebSocket(url, ["foxglove.sdk.v1", FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
  const client = new FoxgloveClient({ ws });
  const topicBySub = new Map();
  const subByChannel = new Map();
  const text = new TextDecoder();
  client.on("open", () => {
    state.connected = true;
    setStatus(`connected to ${url}`, true);
  });
  const known = new Map(); // channel id -> {prefix, kind} of the channels the page reads
  client.on("advertise", (channels) => {
    for (const ch of channels) {
      const split = splitTopic(ch.topic);
      if (split) known.set(ch.id, split);
    }
    // A source is a prefix with an image channel (a bridge with sources also has totals on /bridge_stats).
    const prefixes = [...new Set([...known.values()].filter((c) => c.kind === "/image").map((c) => c.prefix))];
    addSources(prefixes);
    for (const [id, ch] of known) {
      if (views.has(ch.prefix) && !subByChannel.has(id)) {
        const sub = client.subscribe(id);
        subByChannel.set(id, sub);
        topicBySub.set(sub, ch);
      }
    }
  });
  client.on("unadvertise", (ids) => {
    for (const id of ids) {
      topicBySub.delete(subByChannel.get(id));
      subByChannel.delete(id);
      known.delete(id);
    }
  });
  client.on("message", ({ subscriptionId, data }) => {
    const ch = topicBySub.get(subscriptionId);
    const view = ch && views.get(ch.prefix);
    if (!view) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    try {
      if (ch.kind === "/image") view.onImage(bytes);
      else view.onDoc(ch.kind, text.decode(bytes));
    } catch (err) {
      state.errors.push(String(err));
    }
  });
  client.on("error", (err) => state.errors.push(String(err && err.message ? err.message : err)));
  client.on("close", () => {
    state.connected = false;
    setStatus(`disconnected from ${url}; retrying…`, false);
    setTimeout(() => connect(url), 1000);
  });
}

wsUrl().then(connect);
