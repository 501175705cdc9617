// Drives poolgate's Cognito facade with aws-amplify v6 (the library most
// web apps use), configured with `userPoolEndpoint` and
// `identityPoolEndpoint`: signUp, confirmSignUp (the code is read from
// stdin, where the test writes it after reading the mail), signIn (SRP, as
// Amplify does by default), getCurrentUser, fetchAuthSession (tokens, then
// identity-pool credentials), a forced refresh, and signOut.
// Usage: node amplify_flow.mjs <endpoint> <userPoolId> <clientId> <identityPoolId> <email> <password>
// Prints JSON lines: {"step":"signed_up",...}, then the result; exits non-zero on failure.
import { Amplify } from "aws-amplify";
import {
  confirmSignUp,
  fetchAuthSession,
  getCurrentUser,
  signIn,
  signOut,
  signUp,
} from "aws-amplify/auth";
import { createInterface } from "node:readline";

const [endpoint, userPoolId, userPoolClientId, identityPoolId, email, password] = process.argv.slice(2);

Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId,
      userPoolClientId,
      userPoolEndpoint: endpoint,
      identityPoolId,
      identityPoolEndpoint: endpoint,
      allowGuestAccess: false,
      loginWith: { email: true },
    },
  },
});

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const out = {};
const up = await signUp({ username: email, password, options: { userAttributes: { email } } });
console.log(JSON.stringify({ step: "signed_up", nextStep: up.nextStep.signUpStep, userId: up.userId }));
const code = (await lines.next()).value.trim();
const confirmed = await confirmSignUp({ username: email, confirmationCode: code });
out.confirmed = confirmed.isSignUpComplete;
const signedIn = await signIn({ username: email, password });
out.signedIn = signedIn.isSignedIn;
out.signInStep = signedIn.nextStep.signInStep;
const current = await getCurrentUser();
out.userId = current.userId;
const session = await fetchAuthSession();
out.idToken = session.tokens?.idToken?.toString();
out.accessTokenSub = session.tokens?.accessToken?.payload?.sub;
out.identityId = session.identityId;
out.credentials = session.credentials
  ? {
      accessKeyId: session.credentials.accessKeyId,
      secretAccessKey: session.credentials.secretAccessKey,
      sessionToken: session.credentials.sessionToken,
      expiration: session.credentials.expiration?.toISOString(),
    }
  : null;
const refreshed = await fetchAuthSession({ forceRefresh: true });
out.refreshedAccessTokenDiffers =
  refreshed.tokens?.accessToken?.toString() !== session.tokens?.accessToken?.toString();
// The test uses the credentials on the gateway while the user is signed in,
// then lets the flow sign out (and checks they stop working).
console.log(JSON.stringify({ step: "signed_in", ...out }));
await lines.next();
await signOut();
const after = await fetchAuthSession();
out.tokensAfterSignOut = after.tokens ? "present" : "absent";
console.log(JSON.stringify(out));
process.exit(0);
