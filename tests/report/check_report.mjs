// Opens an objspy HTML report in Debian's headless Chromium (playwright-core, no browser
// download) and prints, as one JSON line, what a person would see: the title, every chart's
// canvas with how many of its pixels are painted in each series colour, the suspects table's
// names as text, the elements a hostile name could have planted, every request the page made
// beyond the file itself, console errors, dialogs (alert) and uncaught exceptions. Writes a
// full-page screenshot. Usage: node check_report.mjs REPORT.html SCREENSHOT.png
import { chromium } from "playwright-core";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [html, shot] = process.argv.slice(2);
const url = pathToFileURL(path.resolve(html)).href;
const browser = await chromium.launch({
  executablePath: process.env.OBJSPY_CHROMIUM || "/usr/bin/chromium",
  // Off the network Chromium tries at start (component updates, sync, QUIC probes).
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const requests = [], errors = [], dialogs = [];
  page.on("request", (r) => { if (r.url() !== url) requests.push(r.url()); });
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector("body[data-ready='1']", { timeout: 15000 });
  const facts = await page.evaluate(() => {
    // The page's series colours (page.js): total objects, memory, a suspect's count.
    const colours = { total: [0x2b, 0x6c, 0xb0], rss: [0x2f, 0x85, 0x5a], count: [0xc5, 0x30, 0x30] };
    const canvases = [...document.querySelectorAll("canvas")].map((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const out = { width: c.width, height: c.height, painted: 0 };
      for (const k of Object.keys(colours)) out[k] = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] === 0) continue;
        out.painted++;
        if (d[i + 3] < 200) continue;
        for (const [k, [r, g, b]] of Object.entries(colours))
          if (Math.abs(d[i] - r) < 24 && Math.abs(d[i + 1] - g) < 24 && Math.abs(d[i + 2] - b) < 24) out[k]++;
      }
      return out;
    });
    return {
      title: document.title,
      canvases,
      suspects: [...document.querySelectorAll("td.name")].map((e) => e.textContent),
      headings: [...document.querySelectorAll("h2")].map((e) => e.textContent),
      planted: document.querySelectorAll("img, svg, iframe, object, embed").length,
      scripts: document.querySelectorAll("script").length,
    };
  });
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ ...facts, requests, errors, dialogs }));
} finally {
  await browser.close();
}
