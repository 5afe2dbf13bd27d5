package gradium.broker

/** Why a token request waits before it is sent again. */
enum class WaitReason { RATE_LIMITED, UNAVAILABLE, NETWORK }

/** What the app knows about its broker; the defaults are the TypeScript client's. */
data class BrokerConfig(
    /** The stack's TokenUrl output (amplify_outputs.json: custom.gradium_token_url). */
    val tokenUrl: String,
    /** The signed-in user's Cognito ID token, never the access token; null or "" when nobody is signed in. */
    val idToken: suspend () -> String?,
    /** Gradium's speech endpoints: "$speechUrl/tts" and "$speechUrl/asr". */
    val speechUrl: String = GRADIUM_SPEECH_URL,
    /** Token requests per fetchToken(), the first included: 429 and 503 waits, network failures. */
    val tokenAttempts: Int = 4,
    /** The longest Retry-After waited out here; a longer one (a daily cap) is thrown as RateLimited. */
    val maxWaitSeconds: Long = 30,
    /** One token request's connect and read timeout. */
    val requestTimeoutMs: Int = 15_000,
    /** How long Gradium may take to answer `setup` with `ready`. */
    val readyTimeoutMs: Long = 10_000,
    /** How long an open session may stay silent before it fails. */
    val idleTimeoutMs: Long = 30_000,
    /** Hears of each wait before a token request is sent again, e.g. to show "retrying in 2 s". */
    val onWait: ((seconds: Double, reason: WaitReason) -> Unit)? = null,
) {
    // The ID token is a credential: never in a log line that prints the config.
    override fun toString(): String = "BrokerConfig(tokenUrl=$tokenUrl, speechUrl=$speechUrl)"

    companion object {
        const val GRADIUM_SPEECH_URL = "wss://api.gradium.ai/api/speech"
    }
}
