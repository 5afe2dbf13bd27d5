// Drives clients/typescript/demo in headless Chromium (Debian's, through playwright-core): fills the
// sign-in form, clicks, waits for the session to end, saves a screenshot and prints what the page showed.
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  // As root and on a closed network: no sandbox, none of Chromium's own background connections.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  // Script errors only: Chromium also logs each non-2xx load (the favicon's 404, the broker's 429) as one.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      errors.push(message.text());
    }
  });
  await page.goto(process.env.DEMO_URL);
  // What the page offers before anyone types: the local test user, in local mode.
  const offered = {
    text: await page.textContent("#local-user"),
    username: await page.inputValue("#username"),
    intro: await page.textContent("p"),
  };
  await page.fill("#username", process.env.USERNAME);
  await page.fill("#password", process.env.PASSWORD);
  await page.click("#speak");
  await page.waitForSelector('#status[data-state="done"], #status[data-state="failed"]', { timeout: 45_000 });
  const status = await page.$eval("#status", (element) => ({ ...element.dataset, text: element.textContent }));
  const events = await page.$$eval("#events li", (items) => items.map((item) => item.textContent));
  const token = await page.$eval("#token", (element) => ({ ...element.dataset }));
  const quota = await page.$eval("#quota", (element) => ({ ...element.dataset, text: element.textContent }));
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ status, events, errors, token, quota, offered }));
} finally {
  await browser.close();
}
