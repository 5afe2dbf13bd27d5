package gradium.broker

import java.time.Instant
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.launch

/**
 * Keeps one fresh token ready for the next connection, so that "tap" to first audio skips the token's
 * round trip. Each token is taken once, never reused; one close to `expiresAt` is discarded, not used. At
 * most one token is held or on its way, a new one is fetched only by [warm] or after a [take] (a discarded
 * one is not replaced: no quota spent in a loop), and none while the broker asked to wait. The rules of
 * clients/typescript/gradium-client.ts's TokenPrefetch; prefetches run in [scope] (the screen's).
 */
class TokenPrefetch(
    private val config: BrokerConfig,
    private val scope: CoroutineScope,
    /** A held token with less than this left is discarded, never handed out. */
    private val discardWithinSeconds: Long = 30,
    private val now: () -> Instant = Instant::now,
) : TokenSource {
    // One attempt: a prefetch never waits, retries or spends a second request; take() fetches if it failed.
    private val once = TokenBroker(config.copy(tokenAttempts = 1))
    private val broker = TokenBroker(config)
    private val lock = Any()
    private var held: GradiumToken? = null
    private var inFlight: Job? = null
    private var quietUntil: Instant = Instant.MIN

    /** Fetch the next connection's token now, unless one is held, on its way, or the broker said to wait. */
    fun warm() {
        synchronized(lock) {
            if (held != null || inFlight?.isActive == true || now().isBefore(quietUntil)) return
            inFlight = scope.launch {
                try {
                    val token = once.fetchToken()
                    synchronized(lock) { held = token }
                } catch (e: GradiumClientException) {
                    val wait = when (e) {
                        is GradiumClientException.RateLimited -> e.retryAfterSeconds
                        is GradiumClientException.BrokerUnavailable -> e.retryAfterSeconds
                        else -> null
                    } ?: 30
                    synchronized(lock) { quietUntil = now().plusSeconds(wait.coerceAtMost(MAX_QUIET_SECONDS)) }
                }
            }
        }
    }

    /** Returns once no prefetch is on its way: whether a token is held. */
    suspend fun ready(): Boolean {
        synchronized(lock) { inFlight }?.join()
        return synchronized(lock) { held != null }
    }

    /** A token for one connection: the held one while it is fresh, else a new one; then warms for the next. */
    override suspend fun take(): GradiumToken {
        ready()
        val token = synchronized(lock) { held.also { held = null } }
        val fresh = token != null && token.expiresAt.isAfter(now().plusSeconds(discardWithinSeconds))
        val taken = if (fresh) token else broker.fetchToken()
        warm()
        return taken
    }

    private companion object {
        const val MAX_QUIET_SECONDS = 86_400L // a day: Instant.plusSeconds must not overflow
    }
}
