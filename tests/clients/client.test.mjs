// Node's test runner drives clients/typescript/gradium-client.ts (compiled by tests/clients/conftest.py)
// against `make serve`'s local API and the Gradium speech stand-in; each test names the scenario the
// Python side set the stand-ins up for, and is run alone with --test-name-pattern.
import assert from "node:assert/strict";
import { test } from "node:test";

const client = await import(process.env.CLIENT_MODULE);
const config = {
  tokenUrl: process.env.TOKEN_URL,
  speechUrl: process.env.SPEECH_URL,
  getIdToken: async () => process.env.ID_TOKEN,
  readyTimeoutMs: 1000,
};
const voice = { voiceId: "YTpq7expH9539ERJ" };

async function speakCounting(options = voice, conf = config) {
  const chunks = [];
  await client.speak(conf, "Hello from the client test", options, (pcm) => chunks.push(pcm.length));
  return chunks;
}

test("speak: one fresh token, one session, every audio chunk", async () => {
  assert.deepEqual(await speakCounting(), [7680, 7680, 7680]);
});

test("reconnect: a refused token (1008) is replaced by a fresh one", async () => {
  assert.equal((await speakCounting()).length, 3);
});

test("throttled: waits out the broker's Retry-After, read through the header", async () => {
  const started = Date.now();
  await speakCounting();
  // The header says 2; the client's own fallback is 1, so 2 s proves it read the header.
  assert.ok(Date.now() - started >= 2000, `waited only ${Date.now() - started} ms`);
});

test("long wait: a Retry-After over maxWaitSeconds is thrown at once, not slept", async () => {
  const started = Date.now();
  await assert.rejects(client.fetchToken({ ...config, maxWaitSeconds: 30 }), (error) => {
    assert.ok(error instanceof client.RateLimited);
    assert.equal(error.retryAfterSeconds, 600);
    return true;
  });
  assert.ok(Date.now() - started < 2000);
});

test("server error: a 502 goes to the app at once, one user action one counted request", async () => {
  await assert.rejects(client.fetchToken(config), (error) => {
    assert.ok(error instanceof client.BrokerUnavailable);
    assert.equal(error.status, 502);
    return true;
  });
});

test("unavailable: the open circuit's 503 Retry-After is waited out, then the token comes", async () => {
  const waits = [];
  const started = Date.now();
  const chunks = await speakCounting(voice, { ...config, onWait: (seconds, reason) => waits.push([seconds, reason]) });
  assert.equal(chunks.length, 3);
  assert.equal(waits.length, 1);
  assert.equal(waits[0][1], "unavailable");
  assert.ok(waits[0][0] >= 1 && Date.now() - started >= 1000, `waited ${JSON.stringify(waits)}`);
});

test("signed out: no ID token asks for sign-in without calling the broker", async () => {
  await assert.rejects(client.fetchToken({ ...config, getIdToken: async () => null }), client.SignInAgain);
});

test("refused sign-in: the broker's 401 is SignInAgain, not retried", async () => {
  const forged = { ...config, getIdToken: async () => "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." };
  await assert.rejects(client.fetchToken(forged), client.SignInAgain);
});

test("not allowed: the broker's 403 is NotAllowed", async () => {
  await assert.rejects(client.fetchToken(config), client.NotAllowed);
});

test("mid-stream: a drop after audio is thrown, not spoken again", async () => {
  const chunks = [];
  await assert.rejects(
    client.speak(config, "Hello", voice, (pcm) => chunks.push(pcm.length)),
    client.ConnectionLost,
  );
  assert.deepEqual(chunks, [7680]);
});

test("no ready: a session that never gets ready times out", async () => {
  const started = Date.now();
  await assert.rejects(client.openSession(config, "tts", { voice_id: "x" }), (error) => {
    assert.ok(error instanceof client.SessionTimeout);
    assert.equal(error.waitingFor, "ready");
    return true;
  });
  assert.ok(Date.now() - started < 3000);
});

test("gradium error: Gradium's message and code, not retried", async () => {
  await assert.rejects(speakCounting({ voiceId: "no-such-voice" }), (error) => {
    assert.ok(error instanceof client.GradiumError);
    assert.equal(error.code, 1011);
    assert.equal(error.detail, "Unknown voice_id");
    return true;
  });
});

test("asr: 100 ms chunks of pcm_16000 in, text out", async () => {
  const chunk = new Uint8Array(3200); // 100 ms of 16 kHz 16-bit mono
  const chunks = Array.from({ length: 25 }, () => chunk);
  const texts = [];
  await client.transcribe(config, chunks, { inputFormat: "pcm_16000" }, (text) => texts.push(text));
  assert.deepEqual(texts, ["hello", "hello", "world"]);
});

test("pcm: 16-bit samples round-trip through Web Audio floats", () => {
  const pcm = client.float32ToPcm16(new Float32Array([0, 0.5, -0.5, 1, -1]));
  assert.deepEqual(Array.from(client.pcm16ToFloat32(pcm)), [0, 16383 / 32768, -0.5, 32767 / 32768, -1]);
});

test("prefetch ahead: each connection takes the token fetched ahead, once, and one is kept for the next", async () => {
  const prefetch = new client.TokenPrefetch(config);
  prefetch.warm();
  assert.equal(await prefetch.ready(), true);
  const tokens = { ...config, tokens: prefetch };
  assert.equal((await speakCounting(voice, tokens)).length, 3);
  assert.equal((await speakCounting(voice, tokens)).length, 3);
  assert.equal(await prefetch.ready(), true); // the third, for a next connection that may never come
  prefetch.warm(); // no second one held: warm() is a no-op while one is
});

test("prefetch expiry: a token close to its expiry is discarded, never used", async () => {
  const prefetch = new client.TokenPrefetch(config, 30);
  prefetch.warm();
  assert.equal(await prefetch.ready(), true);
  assert.equal((await speakCounting(voice, { ...config, tokens: prefetch })).length, 3);
  await prefetch.ready(); // the next one's fetch ends here, not during the next test
});

test("prefetch quiet: none while the broker asks to wait", async () => {
  const prefetch = new client.TokenPrefetch(config);
  prefetch.warm();
  assert.equal(await prefetch.ready(), false); // the 429 ended it, without a retry
  for (let i = 0; i < 5; i++) prefetch.warm(); // quiet until Retry-After has passed: no request
  assert.equal(await prefetch.ready(), false);
});
