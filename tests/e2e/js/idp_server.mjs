// A real external OpenID Provider for the federation tests: panva's certified
// oidc-provider on 127.0.0.1 over plain HTTP, configured from a JSON file.
//
// Usage: node idp_server.mjs <config.json>
//
// config.json:
//   {
//     "port": 0,                      // 0 (or absent): any free port
//     "clients": [{"client_id": "...", "client_secret": "...",
//                  "redirect_uris": ["http://127.0.0.1:8080/<poolId>/oauth2/idpresponse"],
//                  "token_endpoint_auth_method": "client_secret_basic"}],
//                                     // any other oidc-provider client metadata passes through
//     "accounts": {"alice": {"email": "alice@example.com", "email_verified": true,
//                            "name": "Alice Example"}},
//                                     // key = login = sub; a "sub" member must equal the key
//     "scopes": {"groups": ["groups"]},      // optional: extra scope -> claims mappings
//     "pkce_required": true,                  // optional: false = PKCE (S256) optional
//     "conform_id_token_claims": false,       // optional: true = scope claims only via userinfo
//     "exit_with_stdin": false                // optional: exit when stdin reaches EOF
//   }
//
// Issuer: http://127.0.0.1:<bound port>. Scopes openid, email (email,
// email_verified), profile (the standard profile claims), offline_access.
// Authorization code flow; PKCE with S256 only, required by default (as
// oidc-provider 8.8 requires it of every client). Redirect URIs must match a
// registered one exactly (plain http on 127.0.0.1 is fine for web clients).
// ID tokens are RS256-signed with a key generated at start and, unless
// conform_id_token_claims, carry the granted scope claims too (oidc-provider's
// default puts them in userinfo only when an access token is issued). The development
// interactions render the sign-in page; a login that is not in "accounts" is
// refused there (HTTP 401, the form again), any password is accepted, and
// consent is granted without asking (loadExistingGrant).
//
// Once listening, prints exactly one line to stdout:
//   {"issuer": "http://127.0.0.1:N", "port": N}
// and runs until SIGTERM/SIGINT. Everything else goes to stderr.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import * as querystring from "node:querystring";

// oidc-provider prints its notices with console.info; stdout is reserved for
// the ready line.
console.log = console.error;
console.info = console.error;

const { default: Provider } = await import("oidc-provider");

const configPath = process.argv[2];
if (!configPath) {
  console.error("usage: node idp_server.mjs <config.json>");
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, "utf8"));

// -- accounts -----------------------------------------------------------------------

const accounts = new Map();
for (const [login, claims] of Object.entries(config.accounts ?? {})) {
  if (claims.sub !== undefined && claims.sub !== login) {
    throw new Error(`account ${login}: sub must be the login (got ${JSON.stringify(claims.sub)})`);
  }
  accounts.set(login, { ...claims, sub: login });
}

async function findAccount(_ctx, id) {
  const claims = accounts.get(id);
  if (!claims) return undefined;
  return {
    accountId: id,
    // oidc-provider keeps only the claims the granted scopes/claims allow.
    async claims() {
      return { ...claims };
    },
  };
}

// -- scopes and claims --------------------------------------------------------------

const claimsByScope = {
  // oidc-provider's defaults: claims outside any scope, and openid.
  acr: null,
  sid: null,
  auth_time: null,
  iss: null,
  openid: ["sub"],
  email: ["email", "email_verified"],
  profile: [
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
  ],
  ...(config.scopes ?? {}),
};

// -- consent: grant whatever OpenID scopes and claims the request asks for -----------

async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant) {
    grant = new oidc.provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
  }
  const scopes = [...oidc.requestParamOIDCScopes];
  if (scopes.length) grant.addOIDCScope(scopes.join(" "));
  const claims = [...oidc.requestParamClaims];
  if (claims.length) grant.addOIDCClaims(claims);
  await grant.save();
  return grant;
}

// -- the sign-in page for a refused login --------------------------------------------

function escapeHtml(value) {
  return String(value).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
}

function refusedLoginPage(action, login) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Sign-in</title></head>
<body>
<h1>Sign-in</h1>
<p class="error" role="alert">Unknown login: ${escapeHtml(login)}</p>
<form autocomplete="off" action="${escapeHtml(action)}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" value="${escapeHtml(login)}">
  <input required type="password" name="password" placeholder="and password">
  <button type="submit" class="login login-submit">Sign-in</button>
</form>
</body></html>
`;
}

async function readForm(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error("request body too large"), { status: 413 });
    chunks.push(chunk);
  }
  return querystring.parse(Buffer.concat(chunks).toString("utf8"));
}

// -- the provider ---------------------------------------------------------------------

// Bind first: the issuer must carry the real port.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(Number(config.port ?? 0), "127.0.0.1", resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: "jwk" }),
  kid: randomBytes(8).toString("hex"),
  alg: "RS256",
  use: "sig",
};

// Cookie names carry the port: cookies ignore ports, so an IdP and the relying
// party (or two IdPs) on 127.0.0.1 would otherwise overwrite each other's.
const cookiePrefix = `idp${port}`;

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((client) => ({
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    ...client,
  })),
  jwks: { keys: [signingKey] },
  findAccount,
  loadExistingGrant,
  claims: claimsByScope,
  scopes: [
    "offline_access",
    ...Object.entries(claimsByScope)
      .filter(([, claims]) => Array.isArray(claims))
      .map(([scope]) => scope),
  ],
  conformIdTokenClaims: Boolean(config.conform_id_token_claims),
  // Explicit lifetimes (seconds) keep the defaults' notices out of the log.
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
    Interaction: 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },
  pkce: { methods: ["S256"], required: () => config.pkce_required !== false },
  cookies: {
    names: {
      session: `${cookiePrefix}_session`,
      interaction: `${cookiePrefix}_interaction`,
      resume: `${cookiePrefix}_interaction_resume`,
    },
    // The session cookie defaults to SameSite=None, which browsers drop unless
    // it is also Secure, i.e. over plain http; Lax works for top-level
    // redirects. oidc-provider sets Secure by itself on https requests only.
    long: { httpOnly: true, sameSite: "lax", signed: true },
    short: { httpOnly: true, sameSite: "lax", signed: true },
    keys: [randomBytes(32).toString("base64url")],
  },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: true },
  },
  renderError(ctx, out, error) {
    ctx.type = "html";
    ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>oops! something went wrong</title></head>
<body><h1>oops! something went wrong</h1><pre>${escapeHtml(JSON.stringify(out, null, 2))}</pre></body></html>`;
    // Stack traces for server errors only; client errors are logged as events.
    const serverError = !error?.statusCode || error.statusCode >= 500;
    console.error(`error page: ${JSON.stringify(out)}${serverError && error?.stack ? `\n${error.stack}` : ""}`);
  },
});

// Access log on stderr.
provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    await next();
  } finally {
    const location = ctx.response.get("Location");
    console.error(
      `${ctx.method} ${ctx.originalUrl} -> ${ctx.status}${location ? ` Location: ${location}` : ""} (${Date.now() - started} ms)`,
    );
  }
});

// The dev interactions accept any login; this answers their login form
// instead, for the accounts of the configuration only.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (ctx.method !== "POST" || !match || !ctx.is("application/x-www-form-urlencoded")) {
    return next();
  }
  const body = await readForm(ctx.req);
  if (body.prompt !== "login") {
    ctx.req.body = body; // already read: oidc-provider falls back to req.body
    return next();
  }
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = "text";
    ctx.body = `interaction not found: ${err.message}\n`;
    return undefined;
  }
  if (details.uid !== match[1] || details.prompt.name !== "login") {
    ctx.status = 400;
    ctx.type = "text";
    ctx.body = `interaction ${match[1]} is not waiting for a login\n`;
    return undefined;
  }
  const login = typeof body.login === "string" ? body.login : "";
  if (!accounts.has(login)) {
    console.error(`login refused: unknown login ${JSON.stringify(login)}`);
    ctx.status = 401;
    ctx.type = "html";
    ctx.body = refusedLoginPage(ctx.path, login);
    return undefined;
  }
  const returnTo = await provider.interactionResult(
    ctx.req,
    ctx.res,
    { login: { accountId: login } },
    { mergeWithLastSubmission: false },
  );
  ctx.redirect(returnTo);
  ctx.status = 303;
  return undefined;
});

for (const event of [
  "server_error",
  "authorization.error",
  "grant.error",
  "userinfo.error",
  "introspection.error",
  "revocation.error",
  "end_session.error",
]) {
  provider.on(event, (ctx, err) => {
    const detail = err?.error_description ? ` (${err.error_description})` : "";
    console.error(`${event}: ${err?.message ?? err}${detail}`);
  });
}

server.on("request", provider.callback());

// -- lifecycle ------------------------------------------------------------------------

let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  console.error(`stopping (${reason})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
if (config.exit_with_stdin) {
  process.stdin.on("end", () => shutdown("stdin closed"));
  process.stdin.on("error", () => shutdown("stdin error"));
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
console.error(`oidc-provider listening on ${issuer}`);
