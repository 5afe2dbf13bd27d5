package gradium.broker

import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.Response
import okhttp3.WebSocket
import okhttp3.WebSocketListener

/** One WebSocket to Gradium, as the session needs it: text frames out, a close. */
interface SpeechSocket {
    /** False when the socket can no longer send (closed, or closing). */
    fun send(text: String): Boolean

    fun close(code: Int)
}

/** What the socket tells the session. */
interface SpeechSocketListener {
    fun onMessage(text: String)

    fun onClosed(code: Int, reason: String)

    fun onFailure(error: Throwable)
}

/** Opens speech sockets: OkHttp's by default, or the app's own WebSocket stack. */
fun interface SpeechConnector {
    fun connect(url: String, listener: SpeechSocketListener): SpeechSocket
}

/**
 * OkHttp's WebSocket, through only the calls that read the same in OkHttp 3, 4 and 5 (`Request.Builder`,
 * `newWebSocket`, `WebSocketListener`, `WebSocket.send/close`): the app brings the OkHttp it already has.
 */
class OkHttpSpeechConnector(private val http: OkHttpClient = OkHttpClient()) : SpeechConnector {
    override fun connect(url: String, listener: SpeechSocketListener): SpeechSocket {
        val socket = http.newWebSocket(
            Request.Builder().url(url).build(),
            object : WebSocketListener() {
                override fun onMessage(webSocket: WebSocket, text: String) = listener.onMessage(text)

                override fun onClosing(webSocket: WebSocket, code: Int, reason: String) {
                    webSocket.close(1000, null)
                    listener.onClosed(code, reason)
                }

                override fun onClosed(webSocket: WebSocket, code: Int, reason: String) =
                    listener.onClosed(code, reason)

                override fun onFailure(webSocket: WebSocket, t: Throwable, response: Response?) =
                    listener.onFailure(t)
            },
        )
        return object : SpeechSocket {
            override fun send(text: String): Boolean = socket.send(text)

            override fun close(code: Int) {
                socket.close(code, null)
            }
        }
    }
}
