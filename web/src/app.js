// Zero-install web view of ros_detect: connects to the bridge's Foxglove WebSocket server with Foxglove's
// own client library and draws each frame with its boxes (main person green) and the main-person JSON.
// Built into ros_detect/web/app.js by `npm run build` (esbuild); that built file is committed and shipped.
import { FoxgloveClient } from "@foxglove/ws-protocol";

const TOPICS = ["/image", "/detections", "/main_person", "/bridge_stats"];
const KEEP = 30; // frames / documents kept while waiting for their partner (matched by capture stamp)
const BARE_AFTER_MS = 1000; // draw frames without boxes when no results arrived for this long
// The label ros_detect.detection.weights.RANDOM_INIT_LABEL puts in every document of an untrained model.
const RANDOM_INIT_LABEL = "random-init (NOT A REAL RESULT)";
const MAIN_COLOR = "#00ff00";
const OTHER_COLOR = "#ff9900";

const canvas = document.getElementById("view");
const ctx = canvas.getContext("2d");
const jsonEl = document.getElementById("main-json");
const statusEl = document.getElementById("status");
const statsEl = document.getElementById("stats");
const bannerEl = document.getElementById("weights-banner");
const weightsEl = document.getElementById("weights");

// Test/automation hook: what is on screen right now.
const state = {
  connected: false,
  paused: false, // set true to freeze the picture (tests sample pixels and screenshot the same frame)
  imagesReceived: 0,
  mainPersonReceived: 0,
  framesDrawn: 0,
  lastDrawn: null, // {stamp, seq, mainBox, boxes, bare}
  displayLatencyMs: null,
  weights: null, // the weights label of the latest result
  untrained: false, // true while the red "untrained weights" banner is shown
  errors: [],
};
window.rosDetectView = state;

const frames = new Map(); // stamp -> {bitmap, frameId}
const detections = new Map(); // stamp -> detections doc
const mains = new Map(); // stamp -> main_person doc
let lastDrawnStamp = -1n;
let lastDrawnBare = false;
let lastResultAt = 0;

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

function drawBox(box, color, width, text) {
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

function sameBox(a, b) {
  return a.every((v, i) => Math.abs(v - b[i]) <= 0.5);
}

function draw(stamp, bare) {
  const frame = frames.get(stamp);
  const main = bare ? null : mains.get(stamp);
  if (state.paused || !frame || (!bare && !main)) return;
  // Never go back in time; the same frame may be drawn again once its results arrive after a bare draw.
  if (stamp < lastDrawnStamp || (stamp === lastDrawnStamp && (bare || !lastDrawnBare))) return;
  const det = bare ? null : detections.get(stamp);
  if (canvas.width !== frame.bitmap.width || canvas.height !== frame.bitmap.height) {
    canvas.width = frame.bitmap.width;
    canvas.height = frame.bitmap.height;
  }
  ctx.drawImage(frame.bitmap, 0, 0);
  const boxes = [];
  const mainBox = main && main.box ? main.box : null;
  for (const d of det ? det.detections : []) {
    if (mainBox && sameBox(d.box, mainBox)) continue;
    drawBox(d.box, OTHER_COLOR, 1.5, `${d.label} ${d.score.toFixed(2)}`);
    boxes.push(d.box);
  }
  if (mainBox) {
    let label = "main person";
    if (main.score !== null) label += ` ${main.score.toFixed(2)}`;
    if (main.track_id !== null) label += ` #${main.track_id}`;
    if (main.held) label += " (held)";
    drawBox(mainBox, MAIN_COLOR, 3, label);
  }
  lastDrawnStamp = stamp;
  lastDrawnBare = bare;
  state.framesDrawn += 1;
  state.displayLatencyMs = Date.now() - Number(stamp / 1000000n);
  state.lastDrawn = { stamp: stamp.toString(), seq: main ? main.seq : null, mainBox, boxes, bare };
  canvas.dataset.stamp = stamp.toString();
  canvas.dataset.mainBox = mainBox ? JSON.stringify(mainBox) : "";
  if (main) jsonEl.textContent = JSON.stringify(main, null, 2);
}

function onImage(bytes) {
  const img = decodeCompressedImage(bytes);
  state.imagesReceived += 1;
  createImageBitmap(new Blob([img.data], { type: `image/${img.format}` }))
    .then((bitmap) => {
      remember(frames, img.stamp, { bitmap, frameId: img.frameId }, (old) => old.bitmap.close());
      draw(img.stamp, Date.now() - lastResultAt > BARE_AFTER_MS);
    })
    .catch((err) => state.errors.push(String(err)));
}

// Every result says which weights made it: untrained ones get a red banner a viewer cannot miss.
function showWeights(label) {
  if (typeof label !== "string" || label === state.weights) return;
  state.weights = label;
  state.untrained = label === RANDOM_INIT_LABEL;
  bannerEl.hidden = !state.untrained;
  weightsEl.textContent = `weights: ${label}`;
}

function onDoc(topic, text) {
  const doc = JSON.parse(text);
  const stamp = stampKey(doc.stamp.sec, doc.stamp.nanosec);
  if (topic === "/detections") {
    remember(detections, stamp, doc);
    if (state.weights === null) showWeights(doc.weights); // main_person documents name it from now on
  } else if (topic === "/main_person") {
    state.mainPersonReceived += 1;
    showWeights(doc.weights);
    lastResultAt = Date.now();
    remember(mains, stamp, doc);
    draw(stamp, false);
  } else if (topic === "/bridge_stats") {
    const lat = doc.latency_ms.capture_to_view;
    const inf = doc.stage_ms.inference;
    statsEl.textContent =
      `${doc.fps.toFixed(1)} fps · capture→view p50 ${lat && lat.p50 !== null ? lat.p50.toFixed(0) : "–"} ms` +
      ` · inference ${inf != null ? inf.toFixed(0) : "–"} ms · dropped ${doc.dropped}` +
      (state.displayLatencyMs !== null ? ` · on screen ${state.displayLatencyMs} ms after capture` : "");
  }
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
  client.on("advertise", (channels) => {
    for (const ch of channels) {
      if (TOPICS.includes(ch.topic) && !subByChannel.has(ch.id)) {
        const sub = client.subscribe(ch.id);
        subByChannel.set(ch.id, sub);
        topicBySub.set(sub, ch.topic);
      }
    }
  });
  client.on("unadvertise", (ids) => {
    for (const id of ids) {
      topicBySub.delete(subByChannel.get(id));
      subByChannel.delete(id);
    }
  });
  client.on("message", ({ subscriptionId, data }) => {
    const topic = topicBySub.get(subscriptionId);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    try {
      if (topic === "/image") onImage(bytes);
      else if (topic) onDoc(topic, text.decode(bytes));
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
