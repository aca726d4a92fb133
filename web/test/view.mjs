// Opens the zero-install page in headless Debian Chromium (playwright-core, no bundled browser), waits until
// frames with a main person are drawn, screenshots the page and prints one JSON line describing what is on
// screen: the page's own state, the main-person JSON shown, and canvas pixels sampled on and off the box.
//   node web/test/view.mjs URL SCREENSHOT.png [min_frames] [timeout_ms] [require_main_person: 1|0] [cam1,cam2]
// With sources (a bridge with `sources`): waits for every source's tile, describes each, screenshots the grid,
// then clicks the last source in the selector, waits for it to draw on, and describes the page again
// ({grid: {name: view}, selected: {name, views: {name: view}}}; the second screenshot is SCREENSHOT-selected.png).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pw from "playwright-core"; // CommonJS package: default import

const [url, shot, minFrames = "5", timeoutMs = "30000", requireMain = "1", sourceList = ""] = process.argv.slice(2);
const sources = sourceList ? sourceList.split(",") : [];
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ros-detect-chromium-"));
const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

// In the page: what one view shows (`name` null: the single-camera page; else that source's tile).
function describe(name) {
  const s = window.rosDetectView;
  const tile = name === null ? document : document.getElementById(`source-${name}`);
  const el = (id, key) => (name === null ? document.getElementById(id) : tile.querySelector(`[data-el=${key}]`));
  const st = name === null ? s : s.sources[name];
  const canvas = el("view", "canvas");
  const ctx = canvas.getContext("2d");
  const px = (x, y) => Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data);
  const [x1, y1, x2, y2] = (st.lastDrawn && st.lastDrawn.mainBox) ?? [0, 0, 1, 1];
  const r = canvas.getBoundingClientRect();
  const banner = el("weights-banner", "banner");
  const b = banner.getBoundingClientRect();
  return {
    state: JSON.parse(JSON.stringify(st)),
    visible: r.width > 0 && r.height > 0,
    canvas: {
      width: canvas.width,
      height: canvas.height,
      dataStamp: canvas.dataset.stamp,
      screenRect: [r.left, r.top, r.width, r.height], // where the canvas is in the screenshot (CSS px)
    },
    mainJson: el("main-json", "json").textContent,
    stats: el("stats", "stats").textContent,
    weights: el("weights", "weights").textContent,
    banner: {
      visible: !banner.hidden && b.height > 0,
      text: banner.textContent,
      background: getComputedStyle(banner).backgroundColor,
      screenRect: [b.left, b.top, b.width, b.height],
    },
    pixels: {
      // on the box outline (mid-edges, away from the label), inside the box, and far outside
      left: px(x1, (y1 + y2) / 2),
      right: px(x2 - 1, (y1 + y2) / 2),
      bottom: px((x1 + x2) / 2, y2 - 1),
      inside: px((x1 + x2) / 2, (y1 + y2) / 2),
      outside: px(5, canvas.height - 5),
    },
  };
}

// In the page: every named view has drawn `n` frames (with a main person if `main`) and shows its stats.
function ready([names, n, main]) {
  const s = window.rosDetectView;
  return names.every((name) => {
    const st = name === null ? s : s.sources[name];
    const tile = name === null ? null : document.getElementById(`source-${name}`);
    const stats = (name === null ? document.getElementById("stats") : tile?.querySelector("[data-el=stats]"))?.textContent;
    return st && st.framesDrawn >= n && st.lastDrawn && (!main || st.lastDrawn.mainBox) && stats && stats !== "";
  });
}

async function freezeAndDescribe(page, names) {
  return page.evaluate(
    ([names, describeSrc]) => {
      window.rosDetectView.paused = true; // what we sample and what we screenshot must be the same frame
      const describe = new Function(`return (${describeSrc})`)();
      return Object.fromEntries(names.map((name) => [name ?? "", describe(name)]));
    },
    [names, describe.toString()],
  );
}

let context;
try {
  context = await pw.chromium.launchPersistentContext(profile, {
    executablePath: chromium,
    headless: true,
    args,
    viewport: { width: 1280, height: 560 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(url);
  const started = Date.now();
  const names = sources.length ? sources : [null];
  const wait = { timeout: Number(timeoutMs), polling: 50 };
  await page.waitForFunction(ready, [names, Number(minFrames), requireMain === "1"], wait);
  const waitedMs = Date.now() - started;
  const views = await freezeAndDescribe(page, names);
  await page.screenshot({ path: shot });
  const common = async () => ({
    status: await page.textContent("#status"),
    topState: await page.evaluate(() => JSON.parse(JSON.stringify(window.rosDetectView))),
    waitedMs,
    consoleErrors,
  });
  if (!sources.length) {
    console.log(JSON.stringify({ ...views[""], status: await page.textContent("#status"), waitedMs, consoleErrors }));
  } else {
    // Switch to the last source: only its tile stays, large, and it keeps drawing.
    const name = sources[sources.length - 1];
    const before = views[name].state.framesDrawn;
    await page.evaluate(() => {
      window.rosDetectView.paused = false;
    });
    await page.click(`#sources button[data-source="${name}"]`);
    await page.waitForFunction(
      ([name, before]) => window.rosDetectView.sources[name].framesDrawn >= before + 2,
      [name, before],
      wait,
    );
    const selected = await freezeAndDescribe(page, sources);
    await page.screenshot({ path: shot.replace(/\.png$/, "-selected.png") });
    console.log(JSON.stringify({ grid: views, selected: { name, views: selected }, ...(await common()) }));
  }
} finally {
  if (context) await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
