import Foundation

/// A message from Gradium: audio (TTS, decoded), text (ASR) or any other message as it came.
public enum GradiumMessage: Sendable {
    case audio(Data)
    case text(String, start: Double?, stop: Double?)
    case other(type: String)
}

/// One Gradium session on its own token. The socket's callbacks queue what happened; `next()` reads the
/// queue with the idle timeout, so messages that arrived before a failure are delivered first.
public final class GradiumSession: SpeechSocketListener, @unchecked Sendable {
    private let events = EventQueue()
    private let idleTimeout: TimeInterval
    private var socket: SpeechSocket?
    private let lock = NSLock()
    private var ended = false

    init(idleTimeout: TimeInterval) {
        self.idleTimeout = idleTimeout
    }

    func attach(_ socket: SpeechSocket) {
        lock.withLock { self.socket = socket }
    }

    /// TTS: text to speak; follow with endOfStream().
    public func sendText(_ text: String) { send(["type": "text", "text": text]) }

    /// ASR: one chunk of audio in the setup's input_format (80-100 ms per chunk).
    public func sendAudio(_ pcm: Data) { send(["type": "audio", "audio": pcm.base64EncodedString()]) }

    /// No more input: Gradium finishes, sends end_of_stream, and next() returns nil.
    public func endOfStream() { send(["type": "end_of_stream"]) }

    public func close() {
        let socket = lock.withLock {
            ended = true
            return self.socket
        }
        socket?.close(code: 1000)
    }

    private var isEnded: Bool { lock.withLock { ended } }

    func send(_ message: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: message) else { return }
        // A socket Gradium already closed drops the frame: not an error here, since what Gradium sent before
        // closing, and why it closed, are still to be read by next() (as a browser ignores such a send).
        lock.withLock { socket }?.send(String(decoding: data, as: UTF8.self))
    }

    /// The next message; nil after end_of_stream; a GradiumClientError for an error, a close or a timeout.
    public func next(waitingFor: String = "message", timeout: TimeInterval? = nil) async throws -> GradiumMessage? {
        while true {
            // Once ended (end_of_stream, or close()), only what already arrived is delivered: no wait.
            switch await events.pop(timeout: isEnded ? 0 : timeout ?? idleTimeout) {
            case .timedOut:
                if isEnded { return nil }
                close()
                throw GradiumClientError.timeout(waitingFor: waitingFor)
            case .finished:
                return nil
            case .failed(let error):
                throw error
            case .message(let text):
                guard let message = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
                    continue // not Gradium's JSON: skipped, never logged
                }
                switch message["type"] as? String ?? "" {
                case "end_of_stream":
                    close()
                    return nil
                case "error":
                    close()
                    let code = message["code"] as? Int ?? 1011
                    let detail = message["message"] as? String ?? "error"
                    throw code == 1008
                        ? GradiumClientError.tokenRejected(detail)
                        : GradiumClientError.gradium(code: code, message: detail)
                case "audio":
                    return .audio(Data(base64Encoded: message["audio"] as? String ?? "") ?? Data())
                case "text":
                    return .text(
                        message["text"] as? String ?? "",
                        start: message["start_s"] as? Double,
                        stop: message["stop_s"] as? Double
                    )
                case let type:
                    return .other(type: type)
                }
            }
        }
    }

    public func onMessage(_ text: String) { events.push(.message(text)) }

    public func onClosed(code: Int, reason: String) {
        if !isEnded {
            events.push(.failed(
                code == 1008
                    ? GradiumClientError.tokenRejected(reason.isEmpty ? "closed" : reason)
                    : GradiumClientError.connectionLost(code: code)
            ))
        }
        events.finish()
    }

    public func onFailure(_ error: Error) {
        if !isEnded { events.push(.failed(GradiumClientError.connectionLost(code: 1006))) }
        events.finish()
    }
}

/// What the socket said, in order, for one reader that waits with a deadline.
private final class EventQueue: @unchecked Sendable {
    enum Event {
        case message(String)
        case failed(GradiumClientError)
        case finished
        case timedOut
    }

    private let lock = NSLock()
    private var queued: [Event] = []
    private var done = false
    private var waiter: (id: Int, resume: CheckedContinuation<Event, Never>)?
    private var waits = 0

    func push(_ event: Event) {
        lock.lock()
        if let waiting = waiter {
            waiter = nil
            lock.unlock()
            waiting.resume.resume(returning: event)
        } else {
            queued.append(event)
            lock.unlock()
        }
    }

    /// No more events after those queued.
    func finish() {
        lock.lock()
        done = true
        let waiting = waiter
        waiter = nil
        lock.unlock()
        waiting?.resume.resume(returning: .finished)
    }

    /// The next event: queued, else the next to come within `timeout` seconds, `.finished` when none can.
    func pop(timeout: TimeInterval) async -> Event {
        await withCheckedContinuation { continuation in
            lock.lock()
            if !queued.isEmpty {
                let event = queued.removeFirst()
                lock.unlock()
                return continuation.resume(returning: event)
            }
            if done || timeout <= 0 {
                lock.unlock()
                return continuation.resume(returning: done ? .finished : .timedOut)
            }
            waits += 1
            let id = waits
            waiter = (id, continuation)
            lock.unlock()
            Task {
                try? await Task.sleep(nanoseconds: UInt64(timeout * 1_000_000_000))
                self.expire(id)
            }
        }
    }

    private func expire(_ id: Int) {
        lock.lock()
        guard let waiting = waiter, waiting.id == id else { return lock.unlock() }
        waiter = nil
        lock.unlock()
        waiting.resume.resume(returning: .timedOut)
    }
}
