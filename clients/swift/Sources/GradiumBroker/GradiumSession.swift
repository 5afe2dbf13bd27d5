import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking // URLSessionWebSocketTask on Linux
#endif

/// A message from Gradium: audio (TTS, decoded), text (ASR) or any other message as it came.
public enum GradiumMessage: Sendable {
    case audio(Data)
    case text(String, start: Double?, stop: Double?)
    case other(type: String)
}

/// One Gradium session on its own token, over URLSessionWebSocketTask.
public final class GradiumSession: @unchecked Sendable {
    private let task: URLSessionWebSocketTask
    private let idleTimeout: TimeInterval
    private let lock = NSLock()
    private var ended = false

    init(task: URLSessionWebSocketTask, idleTimeout: TimeInterval) {
        self.task = task
        self.idleTimeout = idleTimeout
    }

    /// TTS: text to speak; follow with endOfStream().
    public func sendText(_ text: String) async throws { try await send(["type": "text", "text": text]) }

    /// ASR: one chunk of audio in the setup's input_format (80-100 ms per chunk).
    public func sendAudio(_ pcm: Data) async throws {
        try await send(["type": "audio", "audio": pcm.base64EncodedString()])
    }

    /// No more input: Gradium finishes, sends end_of_stream, and next() returns nil.
    public func endOfStream() async throws { try await send(["type": "end_of_stream"]) }

    public func close() {
        lock.withLock { ended = true }
        task.cancel(with: .normalClosure, reason: nil)
    }

    private var isEnded: Bool { lock.withLock { ended } }

    func send(_ message: [String: Any]) async throws {
        let data = try JSONSerialization.data(withJSONObject: message)
        // A socket Gradium already closed refuses the frame: not an error here, since what Gradium sent before
        // closing, and why it closed, are still to be read by next() (as a browser ignores such a send).
        try? await task.send(.string(String(decoding: data, as: UTF8.self)))
    }

    /// The next message; nil after end_of_stream; a GradiumClientError for an error, a close or a timeout.
    public func next(waitingFor: String = "message", timeout: TimeInterval? = nil) async throws -> GradiumMessage? {
        if isEnded { return nil }
        let raw: URLSessionWebSocketTask.Message?
        do {
            raw = try await receive(within: timeout ?? idleTimeout)
        } catch {
            if isEnded { return nil }
            lock.withLock { ended = true }
            let code = task.closeCode.rawValue
            if code == 1008 {
                let reason = task.closeReason.map { String(decoding: $0, as: UTF8.self) } ?? ""
                throw GradiumClientError.tokenRejected(reason.isEmpty ? "closed" : reason)
            }
            throw GradiumClientError.connectionLost(code: code == 0 ? 1006 : code)
        }
        guard let raw else {
            close()
            throw GradiumClientError.timeout(waitingFor: waitingFor)
        }
        let text: String
        switch raw {
        case .string(let string): text = string
        case .data(let data): text = String(decoding: data, as: UTF8.self)
        @unknown default: text = ""
        }
        guard let message = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return try await next(waitingFor: waitingFor, timeout: timeout) // not Gradium's JSON: skipped, never logged
        }
        switch message["type"] as? String ?? "" {
        case "end_of_stream":
            close()
            return nil
        case "error":
            close()
            let code = message["code"] as? Int ?? 1011
            let detail = message["message"] as? String ?? "error"
            throw code == 1008 ? GradiumClientError.tokenRejected(detail) : GradiumClientError.gradium(code: code, message: detail)
        case "audio":
            return .audio(Data(base64Encoded: message["audio"] as? String ?? "") ?? Data())
        case "text":
            return .text(message["text"] as? String ?? "", start: message["start_s"] as? Double, stop: message["stop_s"] as? Double)
        case let type:
            return .other(type: type)
        }
    }

    /// The next frame, or nil when `seconds` passed first (the socket is then closed, which ends the wait).
    private func receive(within seconds: TimeInterval) async throws -> URLSessionWebSocketTask.Message? {
        try await withThrowingTaskGroup(of: URLSessionWebSocketTask.Message?.self) { group in
            group.addTask { try await self.task.receive() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
                return nil
            }
            let first = try await group.next() ?? nil
            if first == nil { task.cancel(with: .normalClosure, reason: nil) } // receive() then returns
            group.cancelAll()
            return first
        }
    }
}
