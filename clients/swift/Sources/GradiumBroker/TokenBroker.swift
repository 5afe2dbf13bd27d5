import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking // URLSession on Linux
#endif

/// A single-use Gradium token: for one WebSocket connection, never cached, reused or logged.
public struct GradiumToken: Sendable, CustomStringConvertible, CustomReflectable {
    public let token: String
    public let expiresAt: Date

    // Neither print() nor dump() shows the token itself.
    public var description: String { "GradiumToken(expiresAt: \(expiresAt))" }
    public var customMirror: Mirror { Mirror(self, children: ["expiresAt": expiresAt]) }
}

/// Where sessions take their token: the broker (TokenBroker) or a TokenPrefetch in front of it.
public protocol TokenSource: Sendable {
    func take() async throws -> GradiumToken
}

/// The broker's token endpoint over URLSession: 401/403/429/503/5xx as docs/clients.md's table says.
public final class TokenBroker: TokenSource {
    private let config: BrokerConfig
    private let session: URLSession

    public init(config: BrokerConfig) {
        self.config = config
        let configuration = URLSessionConfiguration.ephemeral // no cache, no cookies: a token is never stored
        configuration.timeoutIntervalForRequest = config.requestTimeout
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    deinit {
        session.finishTasksAndInvalidate() // a session holds its delegate until invalidated
    }

    public func take() async throws -> GradiumToken { try await fetchToken() }

    /// A brand-new single-use token from the broker. Never cache, reuse or log it.
    public func fetchToken() async throws -> GradiumToken {
        var attempt = 0
        while true {
            attempt += 1
            guard let idToken = try await config.idToken(), !idToken.isEmpty else {
                throw GradiumClientError.signInAgain
            }
            var request = URLRequest(url: config.tokenUrl)
            request.httpMethod = "POST"
            request.setValue(idToken, forHTTPHeaderField: "Authorization")
            request.setValue("no-store", forHTTPHeaderField: "Cache-Control")
            request.httpBody = Data()
            let data: Data
            let response: URLResponse
            do {
                (data, response) = try await session.data(for: request)
            } catch {
                try Task.checkCancellation()
                // Offline, DNS, a reset: worth a retry like a 503.
                if attempt >= config.tokenAttempts { throw GradiumClientError.brokerUnavailable(status: nil) }
                try await wait(seconds: Self.backoffSeconds(attempt), .network)
                continue
            }
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            switch status {
            case 200:
                return try Self.parseToken(data)
            case 401:
                throw GradiumClientError.signInAgain
            case 403:
                throw GradiumClientError.notAllowed
            case 429, 503:
                // 429: the quota or Gradium's limit; 503: the broker's circuit breaker (or its quota table).
                // Each says how long to wait (a stage throttle does not: 1 s); none spent the user's quota.
                let header = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Retry-After")
                let seconds = Self.retryAfterSeconds(header)
                let limited = status == 429
                if seconds > config.maxWaitSeconds || attempt >= config.tokenAttempts {
                    throw limited
                        ? GradiumClientError.rateLimited(retryAfter: seconds)
                        : GradiumClientError.brokerUnavailable(status: 503, retryAfter: seconds)
                }
                try await wait(seconds: Double(seconds), limited ? .rateLimited : .unavailable)
            default:
                // 500 (the broker's configuration or key), 502 and 504 (Gradium failed after the broker's
                // own retries): a 502 or 504 counted against the user's quota; another try would count again.
                throw GradiumClientError.brokerUnavailable(status: status)
            }
        }
    }

    private func wait(seconds: Double, _ reason: WaitReason) async throws {
        config.onWait?(seconds, reason)
        try await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
    }

    private static let maxBodyBytes = 64 * 1024

    /// Retry-After in whole seconds, ASCII digits only; missing or odd: 1 s; too large to hold: the
    /// longest wait, which the caller refuses to sleep.
    static func retryAfterSeconds(_ header: String?) -> Int {
        guard let value = header?.trimmingCharacters(in: .whitespaces), !value.isEmpty,
              value.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) })
        else { return 1 }
        return Int(value) ?? Int.max
    }

    /// Full jitter: 0 to 0.25 s * 2^attempt.
    static func backoffSeconds(_ attempt: Int) -> Double {
        Double.random(in: 0..<(0.25 * Double(1 << min(max(attempt, 1), 10))))
    }

    /// The broker's 200 answer; anything else is brokerUnavailable(200), without the body (it may hold a token).
    static func parseToken(_ data: Data) throws -> GradiumToken {
        guard data.count <= maxBodyBytes,
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = json["token"] as? String,
              let stamp = json["expires_at"] as? String,
              let expiresAt = ISO8601DateFormatter().date(from: stamp)
        else { throw GradiumClientError.brokerUnavailable(status: 200) }
        return GradiumToken(token: token, expiresAt: expiresAt)
    }
}

/// The ID token goes to the token URL and nowhere else: a redirect is answered as the 3xx it is.
private final class NoRedirects: NSObject, URLSessionTaskDelegate {
    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
