// Node's test runner drives the TypeScript client of docs/clients.md, compiled by tests/clients/test_typescript_client.py,
// against the local stand-ins that test starts; each test names the scenario the stand-ins were set up for.
import assert from "node:assert/strict";
import { test } from "node:test";

const client = await import(process.env.CLIENT_MODULE);
const config = {
  tokenUrl: process.env.TOKEN_URL,
  ttsUrl: process.env.TTS_URL,
  getIdToken: async () => process.env.ID_TOKEN,
};

test("speak: one fresh token, one session, audio", async () => {
  let bytes = 0;
  await client.speak(config, "Hello from the client test", "YTpq7expH9539ERJ", (pcm) => {
    bytes += pcm.length;
  });
  assert.ok(bytes > 0);
});

test("reconnect: a refused token is replaced by a fresh one", async () => {
  let bytes = 0;
  await client.speakWithRetry(config, "Hello again", "YTpq7expH9539ERJ", (pcm) => {
    bytes += pcm.length;
  });
  assert.ok(bytes > 0);
});

test("throttled: waits for Retry-After, then speaks", async () => {
  const started = Date.now();
  await client.speakWithRetry(config, "Hello later", "YTpq7expH9539ERJ", () => {});
  assert.ok(Date.now() - started >= 1000, "the client did not wait for Retry-After");
});

test("signed out: no token without a Cognito ID token", async () => {
  const signedOut = { ...config, getIdToken: async () => "" };
  await assert.rejects(client.fetchGradiumToken(signedOut), /token broker answered 401/);
});
