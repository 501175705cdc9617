// Headless Chromium on the hosted pages' passkey (WebAuthn) steps, with a
// Chrome DevTools virtual authenticator (a platform authenticator: CTAP2,
// internal transport, resident keys, user verification, presence simulated).
// The user signs in with the password, adds a passkey on the passkeys page,
// then signs in with it ("Sign in with a passkey", then "Use my passkey").
// With the authenticator's credentials cleared the passkey step fails on the
// page (they are put back afterwards). Then the test turns the pool's MFA on
// with the passkey as second factor, and a password sign-in asks for it.
// Usage: node browser_passkey.mjs <authorizeUrl> <redirectPrefix> <email> <password> <screenshotPath>
// Prints {"step":"passkey","callback":...} after the passkey sign-in and
// waits for a line on stdin (the test exchanges the code and changes the
// pool), then one JSON line with what it saw. On failure it prints what it
// saw so far, the page and the console messages on stderr, and exits 1.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [authorizeUrl, redirectPrefix, email, password, screenshot] = process.argv.slice(2);
const passkeysUrl = authorizeUrl.replace("/oauth2/authorize?", "/passkeys?");
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const out = {};
const consoleLines = [];
let page;
const isPost = (path) => (r) => r.request().method() === "POST" && new URL(r.url()).pathname.endsWith(path);
const csp = (response) => response.headers()["content-security-policy"] || null;
// Click "Sign in with a passkey" (username only): the passkey page, and its response.
const passkeyStart = async () => {
  await page.goto(authorizeUrl + "&prompt=login");
  await page.getByLabel("Username or email").fill(email);
  const [response] = await Promise.all([
    page.waitForResponse(isPost("/login")),
    page.getByRole("button", { name: "Sign in with a passkey" }).click(),
  ]);
  await page.waitForLoadState();
  return response;
};
const useMyPasskey = async () => {
  await Promise.all([
    page.waitForURL(`${redirectPrefix}**`),
    page.getByRole("button", { name: "Use my passkey" }).click(),
  ]);
  return page.url();
};
try {
  const context = await browser.newContext();
  page = await context.newPage();
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () =>
    (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;

  // 1. A password sign-in: a session cookie, and the redirect URI.
  await page.goto(authorizeUrl);
  out.signInTitle = await page.title();
  out.passkeyButtonOffered =
    (await page.getByRole("button", { name: "Sign in with a passkey" }).count()) === 1;
  await page.getByLabel("Username or email").fill(email);
  await page.getByLabel("Password").fill(password);
  await Promise.all([
    page.waitForURL(`${redirectPrefix}**`),
    page.getByRole("button", { name: "Sign in", exact: true }).click(),
  ]);
  out.passwordCallback = page.url();

  // 2. The passkeys page: add one named "laptop".
  const listPage = await page.goto(passkeysUrl);
  out.passkeysStatus = listPage.status();
  out.passkeysCsp = csp(listPage);
  out.passkeysTitle = await page.title();
  out.noPasskeysYet = (await page.getByText("You have no passkeys yet.").count()) === 1;
  const createOptions = JSON.parse(await page.locator("#webauthn").getAttribute("data-options"));
  out.createRp = createOptions.rp;
  out.createSelection = createOptions.authenticatorSelection;
  await page.getByLabel("Name for a new passkey (optional)").fill("laptop");
  const [added] = await Promise.all([
    page.waitForResponse(isPost("/passkeys")),
    page.getByRole("button", { name: "Add a passkey" }).click(),
  ]);
  await page.waitForLoadState();
  out.addStatus = added.status();
  out.addedInfo = await page.getByRole("status").innerText();
  out.passkeysAfter = await page.locator("ul > li").allInnerTexts();
  out.removeButtons = await page.getByRole("button", { name: /^Remove / }).allInnerTexts();
  out.continueLink = await page.getByRole("link", { name: "Continue to the application" }).count();
  await page.screenshot({ path: screenshot, fullPage: true });
  const held = await credentials();
  out.authenticator = held.map((c) => ({
    rpId: c.rpId,
    isResidentCredential: c.isResidentCredential,
    hasUserHandle: !!c.userHandle,
  }));

  // 3. Sign in with the passkey (the first factor).
  const start = await passkeyStart();
  out.passkeyPageStatus = start.status();
  out.passkeyPageCsp = csp(start);
  out.passkeyTitle = await page.title();
  out.passkeyCallback = await useMyPasskey();
  out.signCountAfterUse = (await credentials()).map((c) => c.signCount);

  // 4. Without the credential: the passkey step fails on the page.
  const saved = await credentials();
  await cdp.send("WebAuthn.clearCredentials", { authenticatorId });
  out.heldAfterClear = (await credentials()).length;
  await passkeyStart();
  await page.getByRole("button", { name: "Use my passkey" }).click();
  const shown = page.locator("[role=alert]:visible").first();
  await shown.waitFor({ timeout: 60_000 });
  out.missingError = await shown.innerText();
  out.missingUrl = page.url();
  out.missingTitle = await page.title();
  for (const c of saved) {
    await cdp.send("WebAuthn.addCredential", { authenticatorId, credential: c });
  }

  console.log(JSON.stringify({ step: "passkey", callback: out.passkeyCallback }));
  await lines.next();

  // 5. MFA ON with the passkey as second factor: password, then the passkey.
  await page.goto(authorizeUrl + "&prompt=login");
  out.mfaPasskeyButtonOffered =
    (await page.getByRole("button", { name: "Sign in with a passkey" }).count()) === 1;
  await page.getByLabel("Username or email").fill(email);
  await page.getByLabel("Password").fill(password);
  const [second] = await Promise.all([
    page.waitForResponse(isPost("/login")),
    page.getByRole("button", { name: "Sign in", exact: true }).click(),
  ]);
  await page.waitForLoadState();
  out.mfaPageCsp = csp(second);
  out.mfaTitle = await page.title();
  out.mfaCallback = await useMyPasskey();
} catch (e) {
  let pageText = null;
  try {
    pageText = page ? `${page.url()}\n${await page.locator("body").innerText()}` : null;
  } catch {}
  console.error(JSON.stringify({ error: String(e && e.stack || e), saw: out, pageText, console: consoleLines }));
  await browser.close();
  process.exit(1);
}
await browser.close();
out.console = consoleLines;
console.log(JSON.stringify(out));
