// make bench's "time to first audio": the TypeScript client speaking through make serve's broker and the
// speech stand-in, each round once without and once with a TokenPrefetch warmed before the "tap".
// Prints the milliseconds from the tap to the first audio chunk, per round, for each.
const client = await import(process.env.CLIENT_MODULE);
const config = {
  tokenUrl: process.env.TOKEN_URL,
  speechUrl: process.env.SPEECH_URL,
  getIdToken: async () => process.env.ID_TOKEN,
};
const voice = { voiceId: "YTpq7expH9539ERJ" };

async function firstAudioMs(conf) {
  const tap = performance.now();
  let first = null;
  await client.speak(conf, "Hello", voice, () => {
    first ??= performance.now() - tap;
  });
  return first;
}

const without = [];
const prefetched = [];
for (let round = 0; round < Number(process.env.ROUNDS); round++) {
  without.push(await firstAudioMs(config));
  const prefetch = new client.TokenPrefetch(config);
  prefetch.warm(); // when the screen opens, before the tap
  await prefetch.ready();
  prefetched.push(await firstAudioMs({ ...config, tokens: prefetch }));
}
console.log(JSON.stringify({ without, prefetched }));
