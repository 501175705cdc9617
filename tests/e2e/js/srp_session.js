// Drives poolgate's Cognito facade with amazon-cognito-identity-js:
// SRP authenticateUser, getSession, refreshSession, changePassword.
// Usage: node srp_session.js <endpoint> <poolId> <clientId> <username> <password> <newPassword>
// Prints one JSON line with what happened; exits non-zero on failure.
const {
  CognitoUserPool,
  CognitoUser,
  AuthenticationDetails,
  CognitoRefreshToken,
} = require("amazon-cognito-identity-js");

const [endpoint, poolId, clientId, username, password, newPassword] = process.argv.slice(2);
const pool = new CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint });
const user = new CognitoUser({ Username: username, Pool: pool });

function authenticate(pw) {
  return new Promise((resolve, reject) =>
    user.authenticateUser(new AuthenticationDetails({ Username: username, Password: pw }), {
      onSuccess: resolve,
      onFailure: reject,
      newPasswordRequired: () => reject(new Error("unexpected NEW_PASSWORD_REQUIRED")),
    }),
  );
}

(async () => {
  const out = {};
  const session = await authenticate(password);
  out.authFlow = user.getAuthenticationFlowType();
  out.idSub = session.getIdToken().decodePayload().sub;
  out.valid = session.isValid();
  const again = await new Promise((res, rej) => user.getSession((e, s) => (e ? rej(e) : res(s))));
  out.getSession = again.isValid();
  const refreshed = await new Promise((res, rej) =>
    user.refreshSession(new CognitoRefreshToken({ RefreshToken: session.getRefreshToken().getToken() }), (e, s) =>
      e ? rej(e) : res(s),
    ),
  );
  out.refreshed = refreshed.getAccessToken().getJwtToken() !== session.getAccessToken().getJwtToken();
  await new Promise((res, rej) => user.changePassword(password, newPassword, (e, r) => (e ? rej(e) : res(r))));
  out.changed = true;
  try {
    await authenticate(password);
    out.oldPasswordRefused = false;
  } catch (e) {
    out.oldPasswordRefused = e.code || e.name || String(e);
  }
  const fresh = await authenticate(newPassword);
  out.newPasswordWorks = fresh.isValid();
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.log(JSON.stringify({ error: e.code || e.name, message: e.message }));
  process.exit(1);
});
