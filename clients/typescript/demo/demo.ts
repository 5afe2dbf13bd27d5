// The browser demo: Cognito sign-in (USER_PASSWORD_AUTH, as the local pool of `make serve` allows; an app
// would use Amplify's SRP sign-in), a token from the broker, a TTS session played with the Web Audio API.
// Its settings come from the query string, in the keys `make serve` writes to .aws-sam/local-api.json.
import { type GradiumToken, fetchToken, pcm16ToFloat32, RateLimited, speak } from "../gradium-client.js";

const settings = new URLSearchParams(location.search);
const setting = (name: string): string => settings.get(name) ?? "";
const SAMPLE_RATE = 48_000; // Gradium's "pcm": 48 kHz, 16-bit signed little-endian mono
const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = element<HTMLDivElement>("status");

function log(line: string): void {
  const item = document.createElement("li");
  item.textContent = line;
  element<HTMLOListElement>("events").append(item);
}

function show(state: string, text: string, data: Record<string, string> = {}): void {
  status.dataset.state = state;
  Object.assign(status.dataset, data);
  status.textContent = text;
}

/** InitiateAuth against the pool's Cognito endpoint (moto's, for `make serve`). */
async function signIn(username: string, password: string): Promise<string> {
  const endpoint = setting("cognito_endpoint") || `https://cognito-idp.${setting("region")}.amazonaws.com/`;
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
    },
    body: JSON.stringify({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: setting("app_client_id"),
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  });
  if (!response.ok) throw new Error(`sign-in refused (${response.status})`);
  return (await response.json()).AuthenticationResult.IdToken as string;
}

/** The first 16 hex digits of the token's SHA-256: the broker's audit line logs the same (token_sha256). */
async function fingerprint(token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  return Array.from(digest.slice(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** What is left of the test user's quota, from the demo server (`make demo` reads the local table). */
async function showQuota(): Promise<void> {
  if (!setting("quota_url")) return;
  const quota = await (await fetch(setting("quota_url"), { cache: "no-store" })).json();
  const day = quota.left_today === null ? "no daily cap" : `${quota.left_today} of ${quota.per_day} left today`;
  const minute = quota.left_this_minute === null ? "" : `, ${quota.left_this_minute} of ${quota.per_minute} this minute`;
  const element_ = element<HTMLDivElement>("quota");
  element_.textContent = `Quota: ${day}${minute}`;
  element_.dataset.leftToday = String(quota.left_today);
}

/** A Retry-After as a person reads it: "in 42 s", or "until 00:00 UTC, in 9 h 8 min" (the daily cap's
 *  wait runs to midnight UTC). */
function untilAgain(seconds: number, now: Date): string {
  if (seconds < 60) return `in ${seconds} s`;
  const at = new Date(now.getTime() + seconds * 1000);
  const clock = `${String(at.getUTCHours()).padStart(2, "0")}:${String(at.getUTCMinutes()).padStart(2, "0")} UTC`;
  const minutes = Math.ceil(seconds / 60);
  const hours = Math.floor(minutes / 60);
  return `until ${clock}, in ${hours ? `${hours} h ` : ""}${minutes % 60} min`;
}

/** In local mode (`make demo`), the local pool's test user: shown and filled in, as the console prints it. */
function offerLocalUser(): void {
  if (!setting("local_user")) return;
  element<HTMLInputElement>("username").value = setting("local_user");
  element<HTMLInputElement>("password").value = setting("local_password");
  element<HTMLParagraphElement>("local-user").textContent =
    `Local mode: sign in as ${setting("local_user")} / ${setting("local_password")}, the local pool's test user.`;
}

/** Hands out `token` once, then fresh ones: a token is never used twice, even by a retry. */
function onceThenFresh(token: GradiumToken, config: Parameters<typeof fetchToken>[0]) {
  let first: GradiumToken | null = token;
  return {
    take: async () => {
      const taken = first;
      first = null;
      return taken ?? fetchToken(config);
    },
  };
}

async function run(): Promise<void> {
  // Created in the click handler: browsers start audio only after a user gesture.
  const audio = new AudioContext({ sampleRate: SAMPLE_RATE });
  let playAt = audio.currentTime;
  let chunks = 0;
  let samples = 0;
  let peak = 0;
  let waited = 0;
  show("signing-in", "Signing in…");
  const idToken = await signIn(element<HTMLInputElement>("username").value, element<HTMLInputElement>("password").value);
  log("signed in");
  show("speaking", "Getting a token and speaking…");
  const started = performance.now();
  const config = {
    tokenUrl: setting("token_url"),
    speechUrl: setting("speech_url") || undefined,
    getIdToken: async () => idToken,
    onWait: (seconds: number, reason: string) => {
      waited += seconds;
      log(`broker said wait (${reason}): ${seconds} s`);
    },
  };
  let minted: GradiumToken;
  try {
    minted = await fetchToken(config);
  } catch (error) {
    await showQuota();
    if (error instanceof RateLimited) {
      const wait = untilAgain(error.retryAfterSeconds, new Date());
      log(`the broker answered 429: no more tokens ${wait}`);
      show("failed", `No more tokens for now: try again ${wait}.`, { error: "RateLimited" });
      return;
    }
    throw error;
  }
  const tokenInfo = element<HTMLDivElement>("token");
  tokenInfo.textContent = `Token sha256 ${await fingerprint(minted.token)}…, expires ${minted.expiresAt.toISOString()}`;
  tokenInfo.dataset.fingerprint = await fingerprint(minted.token);
  tokenInfo.dataset.expiresAt = minted.expiresAt.toISOString();
  await showQuota();
  const speaking = { ...config, tokens: onceThenFresh(minted, config) };
  await speak(speaking, element<HTMLInputElement>("text").value, { voiceId: "YTpq7expH9539ERJ" }, (pcm) => {
    const floats = pcm16ToFloat32(pcm);
    const buffer = audio.createBuffer(1, floats.length, SAMPLE_RATE);
    buffer.copyToChannel(floats, 0);
    const source = audio.createBufferSource();
    source.buffer = buffer;
    source.connect(audio.destination);
    playAt = Math.max(playAt, audio.currentTime);
    source.start(playAt); // chunks play back to back, in order
    playAt += buffer.duration;
    chunks += 1;
    samples += floats.length;
    peak = floats.reduce((high, sample) => Math.max(high, Math.abs(sample)), peak);
  });
  const millis = Math.round(performance.now() - started);
  log(`spoke: ${chunks} chunks, ${samples} samples in ${millis} ms`);
  show("done", `Done: ${chunks} audio chunks, ${(samples / SAMPLE_RATE).toFixed(2)} s of audio queued for playback.`, {
    chunks: String(chunks),
    samples: String(samples),
    peak: peak.toFixed(6),
    waited: String(waited),
  });
}

offerLocalUser();
element<HTMLButtonElement>("speak").addEventListener("click", () => {
  run().catch((error: Error) => {
    log(`failed: ${error.name}: ${error.message}`);
    show("failed", `Failed: ${error.name}: ${error.message}`, { error: error.constructor.name });
  });
});
