// Screenshots of pages served by optuna-dashboard, with a headless Chromium.
// Usage: node screenshot.js URL OUT.png [URL OUT.png ...]
// Needs (outside the Python install): npm install @sparticuz/chromium@131 puppeteer-core@23
// (@sparticuz/chromium ships a Chromium build inside the npm package: no browser download).
const chromium = require('@sparticuz/chromium');
const puppeteer = require('puppeteer-core');

(async () => {
  const pairs = process.argv.slice(2);
  if (pairs.length === 0 || pairs.length % 2) {
    console.error('usage: node screenshot.js URL OUT.png [URL OUT.png ...]');
    process.exit(2);
  }
  const browser = await puppeteer.launch({
    args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
    defaultViewport: {width: 1400, height: 900},
  });
  try {
    const page = await browser.newPage();
    for (let i = 0; i < pairs.length; i += 2) {
      await page.goto(pairs[i], {waitUntil: 'networkidle0', timeout: 60000});
      await new Promise((r) => setTimeout(r, 2500)); // the plots draw after the data arrive
      await page.screenshot({path: pairs[i + 1], fullPage: true});
      console.log(`wrote ${pairs[i + 1]} (${pairs[i]})`);
    }
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(`screenshot: ${e.message}`); process.exit(1); });
