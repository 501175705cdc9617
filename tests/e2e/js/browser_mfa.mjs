// Headless Chromium on the hosted pages' second sign-in step. A pool with
// MFA ON: the user signs in, sees the set-up page (QR code and key), the
// test computes the code from the key with pyotp (an independent TOTP) and
// writes it to stdin, the browser enters it and lands on the redirect URI.
// Then a second sign-in (prompt=login) asks for a code on the code page.
// Usage: node browser_mfa.mjs <authorizeUrl> <redirectPrefix> <email> <password> <screenshotPath>
// Prints {"step":"setup","key":...} and {"step":"code"} when it waits for a
// code, then one JSON line with what it saw.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [authorizeUrl, redirectPrefix, email, password, screenshot] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const out = {};
const signIn = async (page) => {
  await page.getByLabel("Username or email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(authorizeUrl);
  await signIn(page);
  out.setupTitle = await page.title();
  out.qrShown = await page
    .locator("img.qr")
    .evaluate((e) => e.complete && e.naturalWidth > 0);
  await page.screenshot({ path: screenshot, fullPage: true });
  const readKey = async () =>
    (await page.getByText(/^Key: /).innerText()).replace(/^Key: /, "").trim();
  const key = await readKey();
  // A wrong first code: an error, and the same key (no new QR to scan).
  await page.getByLabel("Code").fill("000000");
  await page.getByRole("button", { name: "Verify and sign in" }).click();
  out.setupError = await page.locator("[role=alert]").innerText();
  out.setupKeyKept = (await readKey()) === key;
  console.log(JSON.stringify({ step: "setup", key }));
  let code = (await lines.next()).value.trim();
  await page.getByLabel("Code").fill(code);
  await page.getByLabel("Device name (optional)").fill("chromium");
  await Promise.all([
    page.waitForURL(`${redirectPrefix}**`),
    page.getByRole("button", { name: "Verify and sign in" }).click(),
  ]);
  out.firstCallback = page.url();

  await page.goto(authorizeUrl + "&prompt=login");
  await signIn(page);
  out.codeTitle = await page.title();
  // A wrong code first: the page says so and asks again.
  await page.getByLabel("Code").fill("000000");
  await page.getByRole("button", { name: "Verify" }).click();
  out.wrongCode = await page.locator("[role=alert]").innerText();
  console.log(JSON.stringify({ step: "code" }));
  code = (await lines.next()).value.trim();
  await page.getByLabel("Code").fill(code);
  await Promise.all([
    page.waitForURL(`${redirectPrefix}**`),
    page.getByRole("button", { name: "Verify" }).click(),
  ]);
  out.secondCallback = page.url();
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
