package gradium.broker

/**
 * Every failure the client hands to the app, one class per answer of the broker or Gradium: the rows of
 * docs/clients.md's behaviour table, as clients/typescript/gradium-client.ts throws them.
 */
sealed class GradiumClientException(message: String) : Exception(message) {
    /** 401, or no ID token: the Cognito session is gone. Sign the user in again; retrying cannot help. */
    class SignInAgain : GradiumClientException("the Cognito session is gone: sign in again")

    /** 403: this user may not get tokens (the stack's RequiredGroup). */
    class NotAllowed : GradiumClientException("this user is not allowed to use Gradium")

    /** 429 with a wait over maxWaitSeconds (a daily cap), or still 429 after the attempts. */
    class RateLimited(val retryAfterSeconds: Long) :
        GradiumClientException("token requests are limited: retry in $retryAfterSeconds s")

    /**
     * The broker failed: a 500/502/504 (not retried: a 502 or 504 spent one of the user's tokens), a 503 or
     * network failure through every attempt, or a 503 whose Retry-After is over maxWaitSeconds.
     */
    class BrokerUnavailable(val status: Int?, val retryAfterSeconds: Long? = null) :
        GradiumClientException("the token broker is unavailable (${status ?: "network error"})")

    /** Gradium refused the token (1008: used, expired or invalid): connect again with a new token. */
    class TokenRejected(val detail: String) : GradiumClientException("Gradium refused the token: $detail")

    /** Any other Gradium error (a bad voice_id, 1011...): Gradium's own message, not worth a retry. */
    class Gradium(val code: Int, val detail: String) : GradiumClientException("Gradium error $code: $detail")

    /** The socket closed without end_of_stream or an error message (a dropped network). */
    class ConnectionLost(val code: Int) : GradiumClientException("the Gradium connection closed ($code)")

    /** `ready`, or the next message, did not come in time. */
    class SessionTimeout(val waitingFor: String) : GradiumClientException("Gradium sent no $waitingFor in time")
}
