package gradium.broker

import java.io.ByteArrayOutputStream
import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.net.URL
import java.time.Instant
import java.time.OffsetDateTime
import kotlin.random.Random
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.withContext
import org.json.JSONException
import org.json.JSONObject

/** A single-use Gradium token: for one WebSocket connection, never cached, reused or logged. */
class GradiumToken(val token: String, val expiresAt: Instant) {
    override fun toString(): String = "GradiumToken(expiresAt=$expiresAt)" // never the token itself
}

/** Where sessions take their token: the broker (TokenBroker) or a TokenPrefetch in front of it. */
fun interface TokenSource {
    suspend fun take(): GradiumToken
}

/**
 * The broker's token endpoint over HttpURLConnection, which Android and the JVM both have: no HTTP
 * library of the app's is assumed. Every wait suspends; the blocking call runs on Dispatchers.IO.
 */
class TokenBroker(private val config: BrokerConfig) : TokenSource {
    override suspend fun take(): GradiumToken = fetchToken()

    /** A brand-new single-use token from the broker. Never cache, reuse or log it. */
    suspend fun fetchToken(): GradiumToken {
        var attempt = 0
        while (true) {
            attempt++
            val idToken = config.idToken()
            if (idToken.isNullOrEmpty()) throw GradiumClientException.SignInAgain()
            val answer = try {
                post(idToken)
            } catch (e: IOException) {
                // Offline, DNS, a reset: worth a retry like a 503.
                if (attempt >= config.tokenAttempts) throw GradiumClientException.BrokerUnavailable(null)
                wait(backoffMs(attempt), WaitReason.NETWORK)
                continue
            }
            when (answer.status) {
                200 -> return parseToken(answer.body ?: throw GradiumClientException.BrokerUnavailable(200))
                401 -> throw GradiumClientException.SignInAgain()
                403 -> throw GradiumClientException.NotAllowed()
                // 429: the quota or Gradium's limit; 503: the broker's circuit breaker (or its quota table).
                // Each says how long to wait (a stage throttle does not: 1 s); none spent the user's quota.
                429, 503 -> {
                    val seconds = retryAfterSeconds(answer.retryAfter)
                    val limited = answer.status == 429
                    if (seconds > config.maxWaitSeconds || attempt >= config.tokenAttempts) {
                        throw if (limited) GradiumClientException.RateLimited(seconds)
                        else GradiumClientException.BrokerUnavailable(503, seconds)
                    }
                    wait(seconds * 1000, if (limited) WaitReason.RATE_LIMITED else WaitReason.UNAVAILABLE)
                }
                // 500 (the broker's configuration or key), 502 and 504 (Gradium failed after the broker's own
                // retries): a 502 or 504 counted against the user's quota, so another try would count again.
                else -> throw GradiumClientException.BrokerUnavailable(answer.status)
            }
        }
    }

    private suspend fun wait(ms: Long, reason: WaitReason) {
        config.onWait?.invoke(ms / 1000.0, reason)
        delay(ms)
    }

    /** `body` is null when it was over MAX_BODY_BYTES: no broker answer is that large. */
    private class Answer(val status: Int, val retryAfter: String?, val body: ByteArray?)

    private suspend fun post(idToken: String): Answer = withContext(Dispatchers.IO) {
        val connection = URL(config.tokenUrl).openConnection() as HttpURLConnection
        try {
            connection.requestMethod = "POST"
            connection.instanceFollowRedirects = false // the ID token goes to the token URL and nowhere else
            connection.useCaches = false
            connection.connectTimeout = config.requestTimeoutMs
            connection.readTimeout = config.requestTimeoutMs
            connection.setRequestProperty("Authorization", idToken)
            connection.setRequestProperty("Cache-Control", "no-store")
            connection.doOutput = true
            connection.setFixedLengthStreamingMode(0)
            connection.outputStream.close()
            val status = connection.responseCode
            val stream: InputStream? = if (status < 400) connection.inputStream else connection.errorStream
            Answer(status, connection.getHeaderField("Retry-After"), stream?.use(::readAtMost) ?: ByteArray(0))
        } finally {
            connection.disconnect()
        }
    }

    internal companion object {
        private const val MAX_BODY_BYTES = 64 * 1024

        /** Retry-After in whole seconds, ASCII digits only (Kotlin's toLong takes other scripts' digits);
         *  missing or odd: 1 s; too large to hold: the longest wait, which the caller refuses to sleep. */
        fun retryAfterSeconds(header: String?): Long {
            val value = header?.trim() ?: return 1
            if (value.isEmpty() || value.any { it !in '0'..'9' }) return 1
            return value.toLongOrNull() ?: Long.MAX_VALUE
        }

        /** Full jitter: 0 to 250 ms * 2^attempt. */
        fun backoffMs(attempt: Int): Long = Random.nextLong(0, 250L shl attempt.coerceIn(1, 10))

        fun parseToken(body: ByteArray): GradiumToken = try {
            val json = JSONObject(String(body, Charsets.UTF_8))
            GradiumToken(json.getString("token"), OffsetDateTime.parse(json.getString("expires_at")).toInstant())
        } catch (e: JSONException) {
            throw GradiumClientException.BrokerUnavailable(200) // never the body: it may hold a token
        } catch (e: java.time.format.DateTimeParseException) {
            throw GradiumClientException.BrokerUnavailable(200)
        }

        // InputStream.readNBytes needs Android API 33: read by hand, and stop past the limit.
        private fun readAtMost(stream: InputStream): ByteArray? {
            val body = ByteArrayOutputStream()
            val buffer = ByteArray(8192)
            while (true) {
                val read = stream.read(buffer)
                if (read < 0) return body.toByteArray()
                body.write(buffer, 0, read)
                if (body.size() > MAX_BODY_BYTES) return null
            }
        }
    }
}
