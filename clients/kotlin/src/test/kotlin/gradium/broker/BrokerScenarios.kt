package gradium.broker

import kotlin.system.exitProcess
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.asFlow
import kotlinx.coroutines.runBlocking
import org.junit.Test
import org.junit.runner.JUnitCore
import org.junit.runner.Request

/**
 * The client against `make serve`'s local API and the Gradium stand-ins, one scenario per test method,
 * each run alone by tests/clients (which sets the stand-ins up for it and checks what they saw): the
 * scenarios of tests/clients/client.test.mjs, by the same names in camelCase.
 */
class BrokerScenarios {
    private val env = System.getenv()

    // Signed in as an app's debug build would be: over HTTP, at the local Cognito.
    private val idToken: String by lazy {
        LocalCognito.idToken(env.getValue("COGNITO_ENDPOINT"), env.getValue("CLIENT_ID"), env.getValue("USERNAME"), env.getValue("PASSWORD"))
    }
    private val config = BrokerConfig(
        tokenUrl = env.getValue("TOKEN_URL"),
        speechUrl = env.getValue("SPEECH_URL"),
        idToken = { idToken },
        readyTimeoutMs = 1000,
    )
    private val voice = "YTpq7expH9539ERJ"

    private suspend fun speakCounting(client: GradiumClient = GradiumClient(config), voiceId: String = voice): List<Int> {
        val chunks = mutableListOf<Int>()
        client.speak("Hello from the client test", voiceId) { chunks.add(it.size) }
        return chunks
    }

    private fun elapsedMs(started: Long) = (System.nanoTime() - started) / 1_000_000

    @Test fun speak() = runBlocking {
        assertEquals(listOf(7680, 7680, 7680), speakCounting())
    }

    @Test fun reconnect() = runBlocking {
        assertEquals(3, speakCounting().size)
    }

    @Test fun throttled() = runBlocking {
        val started = System.nanoTime()
        speakCounting()
        // The header says 2; the client's own fallback is 1, so 2 s proves it read the header.
        assertTrue(elapsedMs(started) >= 2000, "waited only ${elapsedMs(started)} ms")
    }

    @Test fun longWait() = runBlocking {
        val started = System.nanoTime()
        val error = assertFailsWith<GradiumClientException.RateLimited> { TokenBroker(config).fetchToken() }
        assertEquals(600, error.retryAfterSeconds)
        assertTrue(elapsedMs(started) < 2000)
    }

    @Test fun serverError() = runBlocking {
        val error = assertFailsWith<GradiumClientException.BrokerUnavailable> { TokenBroker(config).fetchToken() }
        assertEquals(502, error.status)
    }

    @Test fun unavailable() = runBlocking {
        val waits = mutableListOf<Pair<Double, WaitReason>>()
        val started = System.nanoTime()
        val chunks = speakCounting(GradiumClient(config.copy(onWait = { seconds, reason -> waits.add(seconds to reason) })))
        assertEquals(3, chunks.size)
        assertEquals(1, waits.size)
        assertEquals(WaitReason.UNAVAILABLE, waits[0].second)
        assertTrue(waits[0].first >= 1 && elapsedMs(started) >= 1000, "waited $waits")
    }

    @Test fun signedOut() = runBlocking {
        assertFailsWith<GradiumClientException.SignInAgain> { TokenBroker(config.copy(idToken = { null })).fetchToken() }
        Unit
    }

    @Test fun refusedSignIn() = runBlocking {
        val forged = config.copy(idToken = { "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." })
        assertFailsWith<GradiumClientException.SignInAgain> { TokenBroker(forged).fetchToken() }
        Unit
    }

    @Test fun notAllowed() = runBlocking {
        assertFailsWith<GradiumClientException.NotAllowed> { TokenBroker(config).fetchToken() }
        Unit
    }

    @Test fun midStream() = runBlocking {
        val chunks = mutableListOf<Int>()
        assertFailsWith<GradiumClientException.ConnectionLost> {
            GradiumClient(config).speak("Hello", voice) { chunks.add(it.size) }
        }
        assertEquals(listOf(7680), chunks)
    }

    @Test fun noReady() = runBlocking {
        val started = System.nanoTime()
        val error = assertFailsWith<GradiumClientException.SessionTimeout> {
            GradiumClient(config).openSession(SessionKind.TTS, mapOf("voice_id" to "x"))
        }
        assertEquals("ready", error.waitingFor)
        assertTrue(elapsedMs(started) < 3000)
    }

    @Test fun gradiumError() = runBlocking {
        val error = assertFailsWith<GradiumClientException.Gradium> { speakCounting(voiceId = "no-such-voice") }
        assertEquals(1011, error.code)
        assertEquals("Unknown voice_id", error.detail)
    }

    @Test fun asr() = runBlocking {
        val chunks = List(25) { ByteArray(3200) } // 100 ms of 16 kHz 16-bit mono each
        val texts = mutableListOf<String>()
        GradiumClient(config).transcribe(chunks.asFlow(), "pcm_16000") { texts.add(it) }
        assertEquals(listOf("hello", "hello", "world"), texts)
    }

    @Test fun prefetchAhead() = withPrefetch({ TokenPrefetch(config, it) }) { prefetch ->
        prefetch.warm()
        assertTrue(prefetch.ready())
        val client = GradiumClient(config, tokens = prefetch)
        assertEquals(3, speakCounting(client).size)
        assertEquals(3, speakCounting(client).size)
        assertTrue(prefetch.ready()) // the third, for a next connection that may never come
        prefetch.warm() // no second one held: warm() does nothing while one is
    }

    @Test fun prefetchExpiry() = withPrefetch({ TokenPrefetch(config, it, discardWithinSeconds = 30) }) { prefetch ->
        prefetch.warm()
        assertTrue(prefetch.ready())
        assertEquals(3, speakCounting(GradiumClient(config, tokens = prefetch)).size)
        prefetch.ready() // the next one's fetch ends here, not during the next test
    }

    @Test fun prefetchQuiet() = withPrefetch({ TokenPrefetch(config, it) }) { prefetch ->
        prefetch.warm()
        assertEquals(false, prefetch.ready()) // the 429 ended it, without a retry
        repeat(5) { prefetch.warm() } // quiet until Retry-After has passed: no request
        assertEquals(false, prefetch.ready())
    }

    private fun withPrefetch(make: (CoroutineScope) -> TokenPrefetch, body: suspend (TokenPrefetch) -> Unit) {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO) // the screen's scope in an app
        try {
            runBlocking { body(make(scope)) }
        } finally {
            scope.cancel()
        }
    }
}

/** `java … gradium.broker.BrokerScenariosKt <method>`: one scenario, its failure printed, exit 1 if it failed. */
fun main(args: Array<String>) {
    val result = JUnitCore().run(Request.method(BrokerScenarios::class.java, args.single()))
    result.failures.forEach { println(it.trace) }
    println("ran ${result.runCount}, failed ${result.failureCount}")
    exitProcess(if (result.wasSuccessful() && result.runCount == 1) 0 else 1)
}
