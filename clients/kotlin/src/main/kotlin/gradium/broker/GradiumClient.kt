package gradium.broker

import java.net.URLEncoder
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.launch
import org.json.JSONObject

enum class SessionKind(val path: String) { TTS("tts"), ASR("asr") }

/**
 * Gradium's speech sessions for a signed-in user, each on a fresh single-use token from the broker. Call
 * it from a coroutine scope (`lifecycleScope.launch { client.speak(...) }`): every wait suspends, and a
 * cancelled scope cancels the call.
 */
class GradiumClient(
    private val config: BrokerConfig,
    /** Where sessions take their token: the broker by default, or a TokenPrefetch for a faster first word. */
    private val tokens: TokenSource = TokenBroker(config),
    private val sockets: SpeechConnector = OkHttpSpeechConnector(),
) {
    /** A fresh token, the socket, `setup`, and `ready` within readyTimeoutMs. One token, one connection. */
    suspend fun openSession(kind: SessionKind, setup: Map<String, Any>): GradiumSession {
        val token = tokens.take()
        val url = "${config.speechUrl}/${kind.path}?token=" + URLEncoder.encode(token.token, "UTF-8")
        val session = GradiumSession(config.idleTimeoutMs)
        session.attach(sockets.connect(url, session))
        try {
            session.send(JSONObject(setup).put("type", "setup")) // OkHttp queues it until the socket opens
            val ready = session.next("ready", config.readyTimeoutMs)
            if (ready !is GradiumMessage.Other || ready.type != "ready") {
                throw GradiumClientException.ConnectionLost(1000) // ended, or spoke, before ready
            }
        } catch (e: Throwable) {
            session.close()
            throw e
        }
        return session
    }

    /**
     * Speak [text], handing each audio chunk to [onAudio]. A refused token or a dropped connection before the
     * first chunk is retried on a fresh token; after audio was heard, the error is thrown instead, so the
     * listener never hears the text twice.
     */
    suspend fun speak(
        text: String,
        voiceId: String,
        outputFormat: String = "pcm",
        attempts: Int = 3,
        onAudio: (ByteArray) -> Unit,
    ) {
        var attempt = 0
        while (true) {
            attempt++
            var heard = false
            try {
                val setup = mapOf("model_name" to "default", "voice_id" to voiceId, "output_format" to outputFormat)
                val session = openSession(SessionKind.TTS, setup)
                try {
                    session.sendText(text)
                    session.endOfStream()
                    while (true) {
                        val message = session.next() ?: break
                        if (message is GradiumMessage.Audio) {
                            heard = true
                            onAudio(message.audio)
                        }
                    }
                    return
                } finally {
                    session.close()
                }
            } catch (e: GradiumClientException) {
                val retryable = e is GradiumClientException.TokenRejected || e is GradiumClientException.ConnectionLost
                if (!retryable || heard || attempt >= attempts) throw e
                delay(TokenBroker.backoffMs(attempt))
            }
        }
    }

    /**
     * Transcribe [chunks] (microphone audio as it comes, 80-100 ms each), handing each text segment to
     * [onText]. Audio cannot be replayed, so nothing is retried: the caller handles a TokenRejected.
     */
    suspend fun transcribe(chunks: Flow<ByteArray>, inputFormat: String = "pcm_16000", onText: (String) -> Unit) {
        val session = openSession(SessionKind.ASR, mapOf("model_name" to "default", "input_format" to inputFormat))
        try {
            coroutineScope {
                launch {
                    chunks.collect { session.sendAudio(it) }
                    session.endOfStream()
                }
                while (true) {
                    val message = session.next() ?: break
                    if (message is GradiumMessage.Text) onText(message.text)
                }
            }
        } finally {
            session.close()
        }
    }
}
