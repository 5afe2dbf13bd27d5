// Amplify JS v6, unchanged, signs in against `make serve`'s local Cognito with the amplify_outputs.json it
// wrote, plus the one line an app adds for a custom endpoint (Auth.Cognito.userPoolEndpoint), then asks
// the broker for a token with the ID token Amplify holds. AUTH_FLOW: USER_SRP_AUTH (Amplify's default) or
// USER_PASSWORD_AUTH. Prints {signedIn, status, body}.
import { readFileSync } from "node:fs";
import { Amplify } from "aws-amplify";
import { fetchAuthSession, signIn } from "aws-amplify/auth";

const outputs = JSON.parse(readFileSync(process.env.AMPLIFY_OUTPUTS, "utf8"));
Amplify.configure(outputs);
const config = Amplify.getConfig(); // frozen: the endpoint goes into a copy
// The one addition: where the local Cognito is (the Gen 2 outputs have no field for it).
const userPoolEndpoint = outputs.custom.user_pool_endpoint;
Amplify.configure({ ...config, Auth: { ...config.Auth, Cognito: { ...config.Auth.Cognito, userPoolEndpoint } } });

const { isSignedIn } = await signIn({
  username: process.env.USERNAME,
  password: process.env.PASSWORD,
  options: { authFlowType: process.env.AUTH_FLOW },
});
const { tokens } = await fetchAuthSession();
const answer = await fetch(outputs.custom.gradium_token_url, {
  method: "POST",
  headers: { Authorization: tokens.idToken.toString() },
});
console.log(JSON.stringify({ signedIn: isSignedIn, status: answer.status, body: await answer.json() }));
