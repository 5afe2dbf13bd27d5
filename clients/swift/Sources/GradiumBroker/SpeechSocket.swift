import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking // URLSessionWebSocketTask on Linux
#endif

/// One WebSocket to Gradium, as a session needs it: text frames out, a close.
public protocol SpeechSocket: AnyObject, Sendable {
    /// Queued in order; a socket that is closing or closed drops it (the session then reads why it closed).
    func send(_ text: String)
    func close(code: Int)
}

/// What the socket tells its session; called from any thread, in the order things happened.
public protocol SpeechSocketListener: AnyObject, Sendable {
    func onMessage(_ text: String)
    func onClosed(code: Int, reason: String)
    func onFailure(_ error: Error)
}

/// Opens speech sockets: URLSessionWebSocketTask by default, or the app's own WebSocket stack.
public protocol SpeechConnector: Sendable {
    func connect(_ url: URL, listener: SpeechSocketListener) -> SpeechSocket
}

/// URLSessionWebSocketTask, what iOS and macOS apps have. Linux's Foundation has it too but cannot hold a
/// Gradium session (it loses the message before a close and fails frames over 4 KiB: tests/clients/runners.py).
public struct URLSessionSpeechConnector: SpeechConnector {
    private let session: URLSession

    public init(session: URLSession = .shared) {
        self.session = session
    }

    public func connect(_ url: URL, listener: SpeechSocketListener) -> SpeechSocket {
        var request = URLRequest(url: url)
        #if canImport(FoundationNetworking)
        // Linux's Foundation sends "Connection: keep-alive" with the upgrade, which RFC 6455 servers refuse
        // with 426; Apple's URLSession sends "Upgrade" itself.
        request.setValue("Upgrade", forHTTPHeaderField: "Connection")
        #endif
        let socket = URLSessionSpeechSocket(task: session.webSocketTask(with: request))
        socket.start(listener)
        return socket
    }
}

private final class URLSessionSpeechSocket: SpeechSocket, @unchecked Sendable {
    private let task: URLSessionWebSocketTask
    private let lock = NSLock()
    private var sending: Task<Void, Never>?

    init(task: URLSessionWebSocketTask) {
        self.task = task
    }

    func start(_ listener: SpeechSocketListener) {
        task.resume()
        let task = self.task
        Task {
            while true {
                do {
                    switch try await task.receive() {
                    case .string(let text): listener.onMessage(text)
                    case .data(let data): listener.onMessage(String(decoding: data, as: UTF8.self))
                    @unknown default: continue
                    }
                } catch {
                    if task.closeCode != .invalid {
                        let reason = task.closeReason.map { String(decoding: $0, as: UTF8.self) } ?? ""
                        listener.onClosed(code: task.closeCode.rawValue, reason: reason)
                    } else {
                        listener.onFailure(error)
                    }
                    return
                }
            }
        }
    }

    func send(_ text: String) {
        // Each send waits for the one before: frames leave in order. A failure shows on receive.
        let task = self.task
        lock.withLock {
            let previous = sending
            sending = Task {
                await previous?.value
                try? await task.send(.string(text))
            }
        }
    }

    func close(code: Int) {
        task.cancel(with: URLSessionWebSocketTask.CloseCode(rawValue: code) ?? .normalClosure, reason: nil)
    }
}
