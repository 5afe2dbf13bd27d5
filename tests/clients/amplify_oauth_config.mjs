// Amplify JS v6 reads the stack's AmplifyOutputs (AMPLIFY_OUTPUTS, a file) as an app does, then checks it
// as signInWithRedirect does before it leaves for the hosted UI (assertOAuthConfig). Prints what Amplify
// made of it: {oauth, valid}.
import { readFileSync } from "node:fs";
import { Amplify } from "aws-amplify";
import { assertOAuthConfig } from "@aws-amplify/core/internals/utils";

Amplify.configure(JSON.parse(readFileSync(process.env.AMPLIFY_OUTPUTS, "utf8")));
const cognito = Amplify.getConfig().Auth.Cognito;
let valid = true;
try {
  assertOAuthConfig(cognito);
} catch {
  valid = false;
}
console.log(JSON.stringify({ oauth: cognito.loginWith?.oauth ?? null, valid }));
