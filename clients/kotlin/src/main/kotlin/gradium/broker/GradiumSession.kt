package gradium.broker

import java.util.Base64
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.withTimeoutOrNull
import org.json.JSONException
import org.json.JSONObject

/** A message from Gradium: audio (TTS, decoded), text (ASR) or any other message as it came. */
sealed class GradiumMessage {
    class Audio(val audio: ByteArray) : GradiumMessage()

    class Text(val text: String, val startSeconds: Double?, val stopSeconds: Double?) : GradiumMessage()

    class Other(val type: String, val json: JSONObject) : GradiumMessage()
}

/**
 * One Gradium session on its own token. The socket's callbacks feed a channel; [next] reads it with the
 * idle timeout, so messages that arrived before a failure are delivered first.
 */
class GradiumSession internal constructor(private val idleTimeoutMs: Long) : SpeechSocketListener {
    private val events = Channel<Result<JSONObject>>(Channel.UNLIMITED)
    private lateinit var socket: SpeechSocket

    @Volatile private var ended = false

    internal fun attach(socket: SpeechSocket) {
        this.socket = socket
    }

    /** TTS: text to speak; follow with [endOfStream]. */
    fun sendText(text: String) = send(JSONObject().put("type", "text").put("text", text))

    /** ASR: one chunk of audio in the setup's input_format (80-100 ms per chunk). */
    fun sendAudio(pcm: ByteArray) =
        send(JSONObject().put("type", "audio").put("audio", Base64.getEncoder().encodeToString(pcm)))

    /** No more input: Gradium finishes, sends end_of_stream, and [next] returns null. */
    fun endOfStream() = send(JSONObject().put("type", "end_of_stream"))

    fun close() {
        ended = true
        socket.close(1000)
    }

    /** The next message; null after end_of_stream; a GradiumClientException for an error, a close or a timeout. */
    suspend fun next(waitingFor: String = "message", timeoutMs: Long = idleTimeoutMs): GradiumMessage? {
        // Once ended (end_of_stream, or close()), only what already arrived is delivered: no wait.
        val event = if (ended) events.tryReceive() else withTimeoutOrNull(timeoutMs) { events.receiveCatching() }
        if (event == null) {
            close()
            throw GradiumClientException.SessionTimeout(waitingFor)
        }
        val message = event.getOrNull()?.getOrThrow() ?: return null // the channel closed after end_of_stream
        return when (val type = message.optString("type")) {
            "end_of_stream" -> {
                close()
                null
            }
            "error" -> {
                close()
                val code = message.optInt("code", 1011)
                val detail = message.optString("message", "error")
                throw if (code == 1008) GradiumClientException.TokenRejected(detail)
                else GradiumClientException.Gradium(code, detail)
            }
            "audio" -> GradiumMessage.Audio(Base64.getDecoder().decode(message.optString("audio")))
            "text" -> GradiumMessage.Text(
                message.optString("text"),
                message.optDouble("start_s").takeUnless { it.isNaN() },
                message.optDouble("stop_s").takeUnless { it.isNaN() },
            )
            else -> GradiumMessage.Other(type, message)
        }
    }

    internal fun send(message: JSONObject) {
        // False when Gradium already closed the socket: not an error here, since what Gradium sent before
        // closing, and why it closed, are still in `events` for next() (a browser ignores such a send too).
        // Throwing would lose a chunk that arrived first, and make speak() say it again.
        socket.send(message.toString())
    }

    override fun onMessage(text: String) {
        val message = try {
            JSONObject(text)
        } catch (e: JSONException) {
            return // not Gradium's JSON: nothing to act on, and nothing of it is logged
        }
        events.trySend(Result.success(message))
    }

    override fun onClosed(code: Int, reason: String) {
        if (!ended) {
            val error = if (code == 1008) GradiumClientException.TokenRejected(reason.ifEmpty { "closed" })
            else GradiumClientException.ConnectionLost(code)
            events.trySend(Result.failure(error))
        }
        events.close()
    }

    override fun onFailure(error: Throwable) {
        if (!ended) events.trySend(Result.failure(GradiumClientException.ConnectionLost(1006)))
        events.close()
    }
}
