// Gradium token broker client for browsers (and Node 22+): a fresh single-use token for every Gradium
// WebSocket, typed errors, TTS and ASR sessions. No dependency; the Swift and Kotlin clients in
// docs/clients.md mirror it behaviour for behaviour.

export type SessionKind = "tts" | "asr";

export interface BrokerConfig {
  /** The stack's TokenUrl output. */
  tokenUrl: string;
  /** The signed-in user's Cognito ID token; null or "" when nobody is signed in. */
  getIdToken: () => Promise<string | null | undefined>;
  /** Gradium's speech endpoints: `${speechUrl}/tts` and `${speechUrl}/asr`. */
  speechUrl?: string;
  /** Token requests per fetchToken(), the first included: 429 and 503 waits, network failures. */
  tokenAttempts?: number;
  /** The longest Retry-After waited out here; a longer one (a daily cap) is thrown as RateLimited. */
  maxWaitSeconds?: number;
  /** How long Gradium may take to answer `setup` with `ready`. */
  readyTimeoutMs?: number;
  /** How long an open session may stay silent before it fails. */
  idleTimeoutMs?: number;
  /** Hears of each wait before a token request is retried, e.g. to show "retrying in 2 s". */
  onWait?: (seconds: number, reason: WaitReason) => void;
  /** Where sessions take their token (a TokenPrefetch, for a faster first word); default: fetchToken. */
  tokens?: { take(): Promise<GradiumToken> };
}

export type WaitReason = "rate_limited" | "unavailable" | "network";

export const GRADIUM_SPEECH_URL = "wss://api.gradium.ai/api/speech";
const DEFAULTS = { tokenAttempts: 4, maxWaitSeconds: 30, readyTimeoutMs: 10_000, idleTimeoutMs: 30_000 };

/** 401, or no ID token: the Cognito session is gone. Sign the user in again; retrying cannot help. */
export class SignInAgain extends Error {
  constructor() {
    super("the Cognito session is gone: sign in again");
  }
}

/** 403: this user may not get tokens (RequiredGroup). */
export class NotAllowed extends Error {
  constructor() {
    super("this user is not allowed to use Gradium");
  }
}

/** 429 with a wait longer than maxWaitSeconds (a daily cap), or still 429 after the attempts. */
export class RateLimited extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`token requests are limited: retry in ${retryAfterSeconds} s`);
  }
}

/** The broker failed: a 500/502/504 (not retried: a 502 or 504 has spent one of the user's tokens), a
 *  503 or network failure through every attempt, or a 503 whose Retry-After is over maxWaitSeconds. */
export class BrokerUnavailable extends Error {
  constructor(
    readonly status: number | null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(`the token broker is unavailable (${status ?? "network error"})`);
  }
}

/** Gradium refused the token (1008: used, expired or invalid): connect again with a new token. */
export class TokenRejected extends Error {
  constructor(readonly detail: string) {
    super(`Gradium refused the token: ${detail}`);
  }
}

/** Any other Gradium error (a bad voice_id, 1011...): Gradium's own message, not worth a retry. */
export class GradiumError extends Error {
  constructor(readonly code: number, readonly detail: string) {
    super(`Gradium error ${code}: ${detail}`);
  }
}

/** The socket closed without end_of_stream or an error message (a dropped network). */
export class ConnectionLost extends Error {
  constructor(readonly code: number) {
    super(`the Gradium connection closed (${code})`);
  }
}

/** `ready` or the next message did not come in time. */
export class SessionTimeout extends Error {
  constructor(readonly waitingFor: string) {
    super(`Gradium sent no ${waitingFor} in time`);
  }
}

export interface GradiumToken {
  token: string;
  expiresAt: Date;
}

const sleep = (ms: number) => new Promise<void>((wake) => setTimeout(wake, ms));
const backoffMs = (attempt: number) => Math.random() * 250 * 2 ** attempt; // full jitter

function wait(config: BrokerConfig, ms: number, reason: WaitReason) {
  config.onWait?.(ms / 1000, reason);
  return sleep(ms);
}

/** A brand-new single-use token from the broker. Never cache, reuse or log it. */
export async function fetchToken(config: BrokerConfig): Promise<GradiumToken> {
  const attempts = config.tokenAttempts ?? DEFAULTS.tokenAttempts;
  const maxWait = config.maxWaitSeconds ?? DEFAULTS.maxWaitSeconds;
  for (let attempt = 1; ; attempt++) {
    const idToken = await config.getIdToken();
    if (!idToken) throw new SignInAgain();
    let response: Response;
    try {
      response = await fetch(config.tokenUrl, {
        method: "POST",
        headers: { Authorization: idToken },
        cache: "no-store",
      });
    } catch {
      // A network failure (offline, DNS, CORS refused): worth a retry like a 5xx.
      if (attempt >= attempts) throw new BrokerUnavailable(null);
      await wait(config, backoffMs(attempt), "network");
      continue;
    }
    if (response.ok) {
      const body = (await response.json()) as { token: string; expires_at: string };
      return { token: body.token, expiresAt: new Date(body.expires_at) };
    }
    if (response.status === 401) throw new SignInAgain();
    if (response.status === 403) throw new NotAllowed();
    if (response.status === 429 || response.status === 503) {
      // 429: the quota or Gradium's limit; 503: the broker's circuit breaker (or its quota table). Each says
      // how long to wait (a stage throttle does not: 1 s), and none of them spent the user's quota.
      const header = response.headers.get("Retry-After");
      const seconds = header && /^\d+$/.test(header.trim()) ? Number(header) : 1;
      const limited = response.status === 429;
      if (seconds > maxWait || attempt >= attempts) {
        throw limited ? new RateLimited(seconds) : new BrokerUnavailable(503, seconds);
      }
      await wait(config, seconds * 1000, limited ? "rate_limited" : "unavailable");
      continue;
    }
    // 500 (the broker's configuration or key), 502 and 504 (Gradium failed after the broker's own retries):
    // not retried here. A 502 or 504 reached Gradium and counted against the user's quota; asking again
    // would turn one user action into several counted requests.
    throw new BrokerUnavailable(response.status);
  }
}

/** Keeps one fresh token ready for the next connection, so that "tap" to first audio skips the token's
 *  round trip. Each token is taken once, never reused; one close to `expiresAt` is discarded, not used. At
 *  most one token is held or on its way, a new one is fetched only by `warm()` or after a `take()` (a
 *  discarded one is not replaced: no quota spent in a loop), and none while the broker asked to wait. */
export class TokenPrefetch {
  private held: GradiumToken | null = null;
  private inFlight: Promise<void> | null = null;
  private quietUntil = 0;

  constructor(
    private readonly config: BrokerConfig,
    /** A held token with less than this left is discarded, never handed out. */
    private readonly discardWithinSeconds = 30,
  ) {}

  /** Fetch the next connection's token now, unless one is held, on its way, or the broker said to wait. */
  warm(): void {
    if (this.held || this.inFlight || Date.now() < this.quietUntil) return;
    // One attempt: a prefetch never waits, retries or spends a second request; take() fetches if it failed.
    this.inFlight = fetchToken({ ...this.config, tokenAttempts: 1 })
      .then((token) => {
        this.held = token;
      })
      .catch((error: unknown) => {
        const limited = error instanceof RateLimited || error instanceof BrokerUnavailable;
        this.quietUntil = Date.now() + ((limited ? error.retryAfterSeconds : null) ?? 30) * 1000;
      })
      .finally(() => {
        this.inFlight = null;
      });
  }

  /** Resolves once no prefetch is on its way. */
  async ready(): Promise<boolean> {
    if (this.inFlight) await this.inFlight;
    return this.held !== null;
  }

  /** A token for one connection: the held one while it is fresh, else a new one; then warms for the next. */
  async take(): Promise<GradiumToken> {
    await this.ready();
    const held = this.held;
    this.held = null;
    const fresh = held !== null && held.expiresAt.getTime() - Date.now() > this.discardWithinSeconds * 1000;
    const token = fresh ? held : await fetchToken(this.config);
    this.warm();
    return token;
  }
}

export type GradiumMessage =
  | { type: "audio"; audio: Uint8Array }
  | { type: "text"; text: string; start_s?: number; stop_s?: number }
  | { type: string; [field: string]: unknown };

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function base64ToBytes(data: string): Uint8Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** One Gradium session on its own token. Iterate it for audio (TTS) or text (ASR) until end_of_stream. */
export class GradiumSession implements AsyncIterable<GradiumMessage> {
  private readonly queue: GradiumMessage[] = [];
  private failure: Error | null = null;
  private ready = false;
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly socket: WebSocket,
    private readonly idleTimeoutMs: number,
  ) {
    socket.onmessage = (event: MessageEvent) => this.receive(String(event.data));
    socket.onclose = (event: CloseEvent) => {
      if (!this.ended && !this.failure) {
        this.failure =
          event.code === 1008 ? new TokenRejected(event.reason || "closed") : new ConnectionLost(event.code);
      }
      this.notify();
    };
    socket.onerror = () => undefined; // the close that follows says what happened
  }

  /** TTS: text to speak; follow with endOfStream(). */
  sendText(text: string): void {
    this.send({ type: "text", text });
  }

  /** ASR: one chunk of audio in the setup's input_format (80-100 ms per chunk). */
  sendAudio(pcm: Uint8Array): void {
    this.send({ type: "audio", audio: bytesToBase64(pcm) });
  }

  /** No more input: Gradium finishes, sends end_of_stream and the iteration ends. */
  endOfStream(): void {
    this.send({ type: "end_of_stream" });
  }

  close(): void {
    this.ended = true;
    this.socket.close(1000);
    this.notify();
  }

  /** Resolves once Gradium answered `setup` with `ready`; rejects with a typed error. */
  async waitReady(timeoutMs: number): Promise<void> {
    await this.waitFor(() => this.ready, "ready", timeoutMs);
    if (!this.ready) throw this.failure ?? new ConnectionLost(1000); // ended before ready
  }

  /** The next message; resolves to null after end_of_stream; rejects with a typed error. Messages
   *  that arrived before a failure are delivered first. */
  async next(): Promise<GradiumMessage | null> {
    await this.waitFor(() => this.queue.length > 0, "message", this.idleTimeoutMs);
    return this.queue.shift() ?? null;
  }

  private async waitFor(done: () => boolean, waitingFor: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.failure) throw this.failure;
      if (this.ended) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        this.failure = new SessionTimeout(waitingFor);
        this.socket.close(1000);
        throw this.failure;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GradiumMessage> {
    for (let message = await this.next(); message; message = await this.next()) yield message;
  }

  private send(message: object): void {
    this.socket.send(JSON.stringify(message));
  }

  private receive(raw: string): void {
    const message = JSON.parse(raw) as { type?: string; [field: string]: unknown };
    if (message.type === "error") {
      const code = typeof message.code === "number" ? message.code : 1011;
      const detail = typeof message.message === "string" ? message.message : "error";
      this.failure = code === 1008 ? new TokenRejected(detail) : new GradiumError(code, detail);
    } else if (message.type === "end_of_stream") {
      this.ended = true;
      this.socket.close(1000);
    } else if (message.type === "ready") {
      this.ready = true;
    } else if (message.type === "audio" && typeof message.audio === "string") {
      this.queue.push({ type: "audio", audio: base64ToBytes(message.audio) });
    } else {
      this.queue.push(message as GradiumMessage);
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** Fetch a fresh token, open `kind`'s socket, send `setup` and wait for `ready`. */
export async function openSession(
  config: BrokerConfig,
  kind: SessionKind,
  setup: Record<string, unknown>,
): Promise<GradiumSession> {
  // One token, one connection, never reused.
  const { token } = await (config.tokens ? config.tokens.take() : fetchToken(config));
  const url = `${config.speechUrl ?? GRADIUM_SPEECH_URL}/${kind}?token=${encodeURIComponent(token)}`;
  const socket = new WebSocket(url);
  const session = new GradiumSession(socket, config.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs);
  socket.onopen = () => socket.send(JSON.stringify({ type: "setup", ...setup }));
  try {
    await session.waitReady(config.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs);
  } catch (error) {
    session.close();
    throw error;
  }
  return session;
}

export interface SpeakOptions {
  voiceId: string;
  /** "pcm" is 48 kHz, 16-bit signed little-endian mono; also pcm_16000, pcm_24000, wav, opus... */
  outputFormat?: string;
  /** Connections per call, the first included; a retry happens only before any audio arrived. */
  attempts?: number;
}

/** Speak `text`, handing each audio chunk to `onAudio`. A refused token or a dropped connection before
 *  the first chunk is retried on a fresh token; after audio has played, the error is thrown instead, so
 *  the listener never hears the text twice. */
export async function speak(
  config: BrokerConfig,
  text: string,
  options: SpeakOptions,
  onAudio: (chunk: Uint8Array) => void,
): Promise<void> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    let heard = false;
    try {
      const session = await openSession(config, "tts", {
        model_name: "default",
        voice_id: options.voiceId,
        output_format: options.outputFormat ?? "pcm",
      });
      session.sendText(text);
      session.endOfStream();
      for await (const message of session) {
        if (message.type === "audio") {
          heard = true;
          onAudio(message.audio as Uint8Array);
        }
      }
      return;
    } catch (error) {
      const retryable = error instanceof TokenRejected || error instanceof ConnectionLost;
      if (!retryable || heard || attempt >= attempts) throw error;
      await sleep(backoffMs(attempt));
    }
  }
}

export interface TranscribeOptions {
  /** "pcm_16000": 16 kHz, 16-bit signed little-endian mono, in chunks of 80-100 ms (2,560-3,200 bytes). */
  inputFormat?: string;
}

/** Transcribe `chunks` (microphone audio as it comes), handing each text segment to `onText`. Audio
 *  cannot be replayed, so nothing is retried: a TokenRejected or ConnectionLost is the caller's to handle. */
export async function transcribe(
  config: BrokerConfig,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: TranscribeOptions,
  onText: (text: string) => void,
): Promise<void> {
  const session = await openSession(config, "asr", {
    model_name: "default",
    input_format: options.inputFormat ?? "pcm_16000",
  });
  const sending = (async () => {
    for await (const chunk of chunks) session.sendAudio(chunk);
    session.endOfStream();
  })();
  try {
    for await (const message of session) {
      if (message.type === "text") onText(String(message.text));
    }
    await sending;
  } catch (error) {
    session.close();
    throw error;
  }
}

/** Gradium's 16-bit PCM as the Web Audio API's float samples (-1..1). */
export function pcm16ToFloat32(bytes: Uint8Array): Float32Array<ArrayBuffer> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength - (bytes.byteLength % 2));
  const samples = new Float32Array(view.byteLength / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
  return samples;
}

/** Web Audio float samples (-1..1) as the 16-bit PCM Gradium's ASR expects. */
export function float32ToPcm16(samples: Float32Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    const clamped = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, clamped < 0 ? clamped * 32768 : clamped * 32767, true);
  }
  return bytes;
}
