import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public enum SessionKind: String, Sendable {
    case tts, asr
}

/// Gradium's speech sessions for a signed-in user, each on a fresh single-use token from the broker.
public final class GradiumClient: Sendable {
    private let config: BrokerConfig
    private let tokens: TokenSource
    private let sockets: SpeechConnector

    /// `tokens`: where sessions take their token; the broker by default, or a TokenPrefetch for a faster
    /// first word. `sockets`: URLSessionWebSocketTask by default, or the app's own WebSocket stack.
    public init(config: BrokerConfig, tokens: TokenSource? = nil, sockets: SpeechConnector = URLSessionSpeechConnector()) {
        self.config = config
        self.tokens = tokens ?? TokenBroker(config: config)
        self.sockets = sockets
    }

    /// A fresh token, the socket, `setup`, and `ready` within readyTimeout. One token, one connection.
    public func openSession(_ kind: SessionKind, setup: [String: Any]) async throws -> GradiumSession {
        let token = try await tokens.take()
        var parts = URLComponents(url: config.speechUrl.appendingPathComponent(kind.rawValue), resolvingAgainstBaseURL: false)!
        parts.queryItems = [URLQueryItem(name: "token", value: token.token)]
        // URLComponents leaves "+" alone in a query, where a server reads a space.
        parts.percentEncodedQuery = parts.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let session = GradiumSession(idleTimeout: config.idleTimeout)
        session.attach(sockets.connect(parts.url!, listener: session))
        do {
            var message = setup
            message["type"] = "setup"
            session.send(message) // queued until the socket opens
            guard case .other(type: "ready") = try await session.next(waitingFor: "ready", timeout: config.readyTimeout) else {
                throw GradiumClientError.connectionLost(code: 1000) // ended, or spoke, before ready
            }
        } catch {
            session.close()
            throw error
        }
        return session
    }

    /// Speak `text`, handing each audio chunk to `onAudio`. A refused token or a dropped connection before the
    /// first chunk is retried on a fresh token; after audio was heard, the error is thrown instead, so the
    /// listener never hears the text twice.
    public func speak(
        _ text: String,
        voiceId: String,
        outputFormat: String = "pcm",
        attempts: Int = 3,
        onAudio: (Data) -> Void
    ) async throws {
        var attempt = 0
        while true {
            attempt += 1
            var heard = false
            do {
                let session = try await openSession(
                    .tts, setup: ["model_name": "default", "voice_id": voiceId, "output_format": outputFormat]
                )
                defer { session.close() }
                session.sendText(text)
                session.endOfStream()
                while let message = try await session.next() {
                    if case .audio(let pcm) = message {
                        heard = true
                        onAudio(pcm)
                    }
                }
                return
            } catch let error as GradiumClientError {
                let retryable: Bool
                switch error {
                case .tokenRejected, .connectionLost: retryable = true
                default: retryable = false
                }
                if !retryable || heard || attempt >= attempts { throw error }
                try await Task.sleep(nanoseconds: UInt64(TokenBroker.backoffSeconds(attempt) * 1_000_000_000))
            }
        }
    }

    /// Transcribe `chunks` (microphone audio as it comes, 80-100 ms each), handing each text segment to
    /// `onText`. Audio cannot be replayed, so nothing is retried: the caller handles a tokenRejected.
    public func transcribe(_ chunks: AsyncStream<Data>, inputFormat: String = "pcm_16000", onText: (String) -> Void) async throws {
        let session = try await openSession(.asr, setup: ["model_name": "default", "input_format": inputFormat])
        defer { session.close() }
        let sending = Task {
            for await chunk in chunks { session.sendAudio(chunk) }
            session.endOfStream()
        }
        do {
            while let message = try await session.next() {
                if case .text(let text, _, _) = message { onText(text) }
            }
            await sending.value
        } catch {
            sending.cancel()
            throw error
        }
    }
}
