// Drives poolgate's OpenID Provider with openid-client (a certified relying
// party): discovery, authorization code + PKCE (following the redirects and
// posting the hosted sign-in form like a browser without JavaScript),
// the code exchange with the library's own ID-token validation (issuer,
// audience, signature against the JWKS, nonce, iss in the response),
// userinfo, refresh, and revocation.
// Usage: node oidc_flow.mjs <issuer> <clientId> <redirectUri> <username> <password>
// Prints one JSON line; exits non-zero on failure.
import * as client from "openid-client";

const [issuer, clientId, redirectUri, username, password] = process.argv.slice(2);

function cookiesOf(res) {
  return res.headers.getSetCookie().map((c) => c.split(";")[0]);
}

const out = {};
const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});
out.issuer = config.serverMetadata().issuer;

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid email profile",
  code_challenge: challenge,
  code_challenge_method: "S256",
  state,
  nonce,
});

// The browser: the sign-in page, then its form.
const page = await fetch(authUrl, { redirect: "manual" });
if (page.status !== 200) throw new Error(`sign-in page: HTTP ${page.status}`);
const html = await page.text();
// Undo the page's HTML escaping, as a browser does.
const unescape = (v) =>
  v.replace(/&(amp|lt|gt|quot|#x27|#x2f|#39);/g, (_, e) =>
    ({ amp: "&", lt: "<", gt: ">", quot: '"', "#x27": "'", "#x2f": "/", "#39": "'" })[e],
  );
const field = (name) => {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  if (!m) throw new Error(`no ${name} field in the sign-in page`);
  return unescape(m[1]);
};
const action = unescape(html.match(/<form method="post" action="([^"]+)"/)[1]);
const form = new URLSearchParams({
  csrf: field("csrf"),
  authorize: field("authorize"),
  username,
  password,
});
const posted = await fetch(new URL(action, issuer), {
  method: "POST",
  redirect: "manual",
  headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookiesOf(page).join("; ") },
  body: form,
});
out.loginStatus = posted.status;
if (!posted.headers.get("location")) {
  throw new Error(`sign-in form: HTTP ${posted.status}: ${(await posted.text()).slice(0, 2000)}`);
}
const callback = new URL(posted.headers.get("location"));
out.callbackHasIss = callback.searchParams.get("iss") === issuer;

const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
out.sub = claims.sub;
out.email = claims.email;
out.nonce = claims.nonce;
out.hasRefresh = typeof tokens.refresh_token === "string";

const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
out.userinfoEmail = info.email;

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
out.refreshed = typeof refreshed.access_token === "string" && refreshed.access_token !== tokens.access_token;

await client.tokenRevocation(config, tokens.refresh_token);
try {
  await client.refreshTokenGrant(config, tokens.refresh_token);
  out.revokedRefused = false;
} catch (e) {
  out.revokedRefused = e.error || e.code || String(e);
}

// The same code again: refused.
try {
  await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  out.replayRefused = false;
} catch (e) {
  out.replayRefused = e.error || e.code || String(e);
}
console.log(JSON.stringify(out));
