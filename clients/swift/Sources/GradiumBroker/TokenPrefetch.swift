import Foundation

/// Keeps one fresh token ready for the next connection, so that "tap" to first audio skips the token's
/// round trip. Each token is taken once, never reused; one close to `expiresAt` is discarded, not used. At
/// most one token is held or on its way, a new one is fetched only by `warm()` or after a `take()` (a
/// discarded one is not replaced: no quota spent in a loop), and none while the broker asked to wait. The
/// rules of clients/typescript/gradium-client.ts's TokenPrefetch.
public actor TokenPrefetch: TokenSource {
    private let once: TokenBroker
    private let broker: TokenBroker
    private let discardWithin: TimeInterval
    private let now: @Sendable () -> Date
    private var held: GradiumToken?
    private var inFlight: Task<Void, Never>?
    private var quietUntil = Date.distantPast

    /// A held token with less than `discardWithinSeconds` left is discarded, never handed out.
    public init(config: BrokerConfig, discardWithinSeconds: TimeInterval = 30, now: @escaping @Sendable () -> Date = { Date() }) {
        var single = config
        single.tokenAttempts = 1 // a prefetch never waits, retries or spends a second request
        once = TokenBroker(config: single)
        broker = TokenBroker(config: config)
        discardWithin = discardWithinSeconds
        self.now = now
    }

    /// Fetch the next connection's token now, unless one is held, on its way, or the broker said to wait.
    public func warm() {
        if held != nil || inFlight != nil || now() < quietUntil { return }
        inFlight = Task { await self.prefetch() } // runs after warm() returns: the actor is busy until then
    }

    private func prefetch() async {
        defer { inFlight = nil }
        do {
            held = try await once.fetchToken()
        } catch GradiumClientError.rateLimited(let seconds) {
            quietUntil = now().addingTimeInterval(Double(min(seconds, 86_400)))
        } catch GradiumClientError.brokerUnavailable(_, let seconds?) {
            quietUntil = now().addingTimeInterval(Double(min(seconds, 86_400)))
        } catch {
            quietUntil = now().addingTimeInterval(30)
        }
    }

    /// Returns once no prefetch is on its way: whether a token is held.
    public func ready() async -> Bool {
        if let running = inFlight { await running.value }
        return held != nil
    }

    /// A token for one connection: the held one while it is fresh, else a new one; then warms for the next.
    public func take() async throws -> GradiumToken {
        _ = await ready()
        let token = held
        held = nil
        let taken: GradiumToken
        if let token, token.expiresAt.timeIntervalSince(now()) > discardWithin {
            taken = token
        } else {
            taken = try await broker.fetchToken()
        }
        warm()
        return taken
    }
}
