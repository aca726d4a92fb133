// Opens the zero-install page in headless Debian Chromium (playwright-core, no bundled browser), waits until
// frames with a main person are drawn, screenshots the page and prints one JSON line describing what is on
// screen: the page's own state, the main-person JSON shown, and canvas pixels sampled on and off the box.
//   node web/test/view.mjs URL SCREENSHOT.png [min_frames] [timeout_ms] [require_main_person: 1|0]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pw from "playwright-core"; // CommonJS package: default import

const [url, shot, minFrames = "5", timeoutMs = "30000", requireMain = "1"] = process.argv.slice(2);
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
  await page.waitForFunction(
    ([n, main]) => {
      const s = window.rosDetectView;
      const stats = document.getElementById("stats").textContent; // bridge stats come once a second
      return s && s.framesDrawn >= n && s.lastDrawn && (!main || s.lastDrawn.mainBox) && stats !== "";
    },
    [Number(minFrames), requireMain === "1"],
    { timeout: Number(timeoutMs), polling: 50 },
  );
  const waitedMs = Date.now() - started;
  // Freeze the picture: what we sample and what we screenshot must be the same frame.
  const result = await page.evaluate(() => {
    const s = window.rosDetectView;
    s.paused = true;
    const canvas = document.getElementById("view");
    const ctx = canvas.getContext("2d");
    const px = (x, y) => Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data);
    const [x1, y1, x2, y2] = s.lastDrawn.mainBox ?? [0, 0, 1, 1];
    const r = canvas.getBoundingClientRect();
    return {
      state: JSON.parse(JSON.stringify(s)),
      canvas: {
        width: canvas.width,
        height: canvas.height,
        dataStamp: canvas.dataset.stamp,
        screenRect: [r.left, r.top, r.width, r.height], // where the canvas is in the screenshot (CSS px)
      },
      mainJson: document.getElementById("main-json").textContent,
      status: document.getElementById("status").textContent,
      stats: document.getElementById("stats").textContent,
      weights: document.getElementById("weights").textContent,
      banner: (() => {
        const el = document.getElementById("weights-banner");
        const r = el.getBoundingClientRect();
        return {
          visible: !el.hidden && r.height > 0,
          text: el.textContent,
          background: getComputedStyle(el).backgroundColor,
          screenRect: [r.left, r.top, r.width, r.height],
        };
      })(),
      pixels: {
        // on the box outline (mid-edges, away from the label), inside the box, and far outside
        left: px(x1, (y1 + y2) / 2),
        right: px(x2 - 1, (y1 + y2) / 2),
        bottom: px((x1 + x2) / 2, y2 - 1),
        inside: px((x1 + x2) / 2, (y1 + y2) / 2),
        outside: px(5, canvas.height - 5),
      },
    };
  });
  await page.screenshot({ path: shot });
  result.waitedMs = waitedMs;
  result.consoleErrors = consoleErrors;
  console.log(JSON.stringify(result));
} finally {
  if (context) await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
