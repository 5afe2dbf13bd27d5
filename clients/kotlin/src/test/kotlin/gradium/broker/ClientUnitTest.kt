package gradium.broker

import java.time.Instant
import java.util.Base64
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlinx.coroutines.runBlocking
import org.junit.Test

/** The parts that need no server: header and body parsing, what is printed, a session's messages. */
class ClientUnitTest {
    @Test fun retryAfterIsWholeAsciiSeconds() {
        assertEquals(2, TokenBroker.retryAfterSeconds(" 2 "))
        assertEquals(600, TokenBroker.retryAfterSeconds("600"))
        assertEquals(1, TokenBroker.retryAfterSeconds(null)) // a stage throttle sends none
        assertEquals(1, TokenBroker.retryAfterSeconds("٣")) // Arabic-Indic three: not an HTTP number
        assertEquals(1, TokenBroker.retryAfterSeconds("Wed, 21 Oct 2026 07:28:00 GMT"))
        assertEquals(Long.MAX_VALUE, TokenBroker.retryAfterSeconds("99999999999999999999")) // refused, not slept
    }

    @Test fun aTokenAnswerIsParsedAndNeverPrinted() {
        val token = TokenBroker.parseToken("""{"token": "gtk_secret", "expires_at": "2026-12-07T12:00:00Z"}""".toByteArray())
        assertEquals("gtk_secret", token.token)
        assertEquals(Instant.parse("2026-12-07T12:00:00Z"), token.expiresAt)
        assertFalse("gtk_secret" in token.toString())
        val offset = TokenBroker.parseToken("""{"token": "t", "expires_at": "2026-12-07T12:00:00+00:00"}""".toByteArray())
        assertEquals(token.expiresAt, offset.expiresAt)
    }

    @Test fun anOddTokenAnswerIsBrokerUnavailableWithoutItsBody() {
        for (body in listOf("not json", """{"token": "gtk_secret"}""", """{"token": "gtk_secret", "expires_at": "soon"}""")) {
            val error = assertFailsWith<GradiumClientException.BrokerUnavailable> { TokenBroker.parseToken(body.toByteArray()) }
            assertEquals(200, error.status)
            assertFalse("gtk_secret" in error.toString())
        }
    }

    @Test fun theConfigNeverPrintsTheIdToken() {
        val config = BrokerConfig(tokenUrl = "https://example.com/v1/gradium-token", idToken = { "eyJ.secret" })
        assertFalse("secret" in config.toString())
    }

    private class FakeSocket : SpeechSocket {
        val sent = mutableListOf<String>()
        var closedWith: Int? = null

        override fun send(text: String): Boolean = closedWith == null && sent.add(text)

        override fun close(code: Int) {
            closedWith = code
        }
    }

    private fun session(): Pair<GradiumSession, FakeSocket> {
        val socket = FakeSocket()
        return GradiumSession(idleTimeoutMs = 200).also { it.attach(socket) } to socket
    }

    @Test fun aSendAfterGradiumClosedStillDeliversWhatCameFirst() = runBlocking {
        val (session, socket) = session()
        session.onMessage("""{"type": "audio", "audio": "AAE="}""")
        session.onClosed(1001, "going away")
        socket.closedWith = 1001 // the socket now refuses frames, as OkHttp's send returns false
        session.endOfStream()
        assertIs<GradiumMessage.Audio>(session.next())
        assertEquals(1001, assertFailsWith<GradiumClientException.ConnectionLost> { session.next() }.code)
    }

    @Test fun audioIsDecodedAndMessagesBeforeAFailureComeFirst() = runBlocking {
        val (session, _) = session()
        session.onMessage("""{"type": "audio", "audio": "${Base64.getEncoder().encodeToString(byteArrayOf(1, 2, 3))}"}""")
        session.onMessage("not json at all") // ignored
        session.onClosed(1001, "going away")
        val audio = assertIs<GradiumMessage.Audio>(session.next())
        assertEquals(listOf<Byte>(1, 2, 3), audio.audio.toList())
        assertEquals(1001, assertFailsWith<GradiumClientException.ConnectionLost> { session.next() }.code)
    }

    @Test fun anErrorMessageIsTypedByItsCode() = runBlocking {
        val (refused, socket) = session()
        refused.onMessage("""{"type": "error", "message": "token expired", "code": 1008}""")
        assertEquals("token expired", assertFailsWith<GradiumClientException.TokenRejected> { refused.next() }.detail)
        assertEquals(1000, socket.closedWith)
        val (failed, _) = session()
        failed.onMessage("""{"type": "error", "message": "Unknown voice_id"}""")
        assertEquals(1011, assertFailsWith<GradiumClientException.Gradium> { failed.next() }.code)
    }

    @Test fun endOfStreamEndsTheSessionAndSilenceTimesOut() = runBlocking {
        val (ended, _) = session()
        ended.onMessage("""{"type": "end_of_stream"}""")
        assertNull(ended.next())
        assertNull(ended.next()) // and stays ended, without waiting
        val (silent, socket) = session()
        assertEquals("ready", assertFailsWith<GradiumClientException.SessionTimeout> { silent.next("ready") }.waitingFor)
        assertEquals(1000, socket.closedWith)
        silent.sendText("too late") // refused by the closed socket, and not an error: the session has ended
        assertNull(silent.next())
    }
}
