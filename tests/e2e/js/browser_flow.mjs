// Headless Chromium (Debian's `chromium`, driven by playwright-core) on
// poolgate's hosted pages: it opens the authorization URL, saves a
// screenshot of the sign-in page, follows "Create an account", signs up,
// confirms with the code the test reads from the SMTP sink (written to
// stdin), signs in, and lands on the client's redirect URI with a code.
// Usage: node browser_flow.mjs <authorizeUrl> <redirectPrefix> <email> <password> <screenshotPath>
// Prints {"step":"confirm"} when it waits for the code, then one JSON line.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [authorizeUrl, redirectPrefix, email, password, screenshot] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const out = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(authorizeUrl);
  out.signInTitle = await page.title();
  // The client's branding, as Chromium renders it.
  out.buttonColor = await page
    .getByRole("button", { name: "Sign in" })
    .evaluate((e) => getComputedStyle(e).backgroundColor);
  out.logoShown = await page.locator("img.logo").evaluate((e) => e.complete && e.naturalWidth > 0);
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  out.confirmTitle = await page.title();
  console.log(JSON.stringify({ step: "confirm" }));
  const code = (await lines.next()).value.trim();
  await page.getByLabel("Confirmation code").fill(code);
  await page.getByRole("button", { name: "Confirm" }).click();
  out.afterConfirm = await page.locator("[role=status]").innerText();
  out.usernamePrefilled = await page.getByLabel("Username or email").inputValue();
  await page.getByLabel("Password").fill(password);
  await Promise.all([
    page.waitForURL(`${redirectPrefix}**`),
    page.getByRole("button", { name: "Sign in" }).click(),
  ]);
  out.callback = page.url();
  const cookies = await context.cookies();
  out.sessionCookie = cookies
    .filter((c) => c.name === "poolgate_session")
    .map((c) => ({ httpOnly: c.httpOnly, sameSite: c.sameSite }))[0];
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
