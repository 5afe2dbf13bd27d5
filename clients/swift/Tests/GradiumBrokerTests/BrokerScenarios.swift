import Foundation
import XCTest
@testable import GradiumBroker

/// The client against `make serve`'s local API and the Gradium stand-ins, one scenario per test, each run
/// alone by tests/clients (which sets the stand-ins up for it and checks what they saw): the scenarios of
/// tests/clients/client.test.mjs, by the same names in camelCase after "test".
final class BrokerScenarios: XCTestCase {
    private let env = ProcessInfo.processInfo.environment
    private let voice = "YTpq7expH9539ERJ"

    private func config() throws -> BrokerConfig {
        let env = self.env
        guard env["TOKEN_URL"] != nil else { throw XCTSkip("run by tests/clients against make serve") }
        // Signed in as an app's debug build would be: over HTTP, at the local Cognito.
        var config = BrokerConfig(tokenUrl: URL(string: env["TOKEN_URL"]!)!, speechUrl: URL(string: env["SPEECH_URL"]!)!) {
            try await LocalCognito.idToken(
                endpoint: URL(string: env["COGNITO_ENDPOINT"]!)!, clientId: env["CLIENT_ID"]!,
                username: env["USERNAME"]!, password: env["PASSWORD"]!
            )
        }
        config.readyTimeout = 1
        return config
    }

    #if os(Linux)
    private let sockets: SpeechConnector = LoopbackSpeechConnector() // Foundation's cannot: LoopbackWebSocket.swift
    #else
    private let sockets: SpeechConnector = URLSessionSpeechConnector()
    #endif

    private func client(_ config: BrokerConfig, tokens: TokenSource? = nil) -> GradiumClient {
        GradiumClient(config: config, tokens: tokens, sockets: sockets)
    }

    private func speakCounting(_ client: GradiumClient, voiceId: String? = nil) async throws -> [Int] {
        var chunks: [Int] = []
        try await client.speak("Hello from the client test", voiceId: voiceId ?? voice) { chunks.append($0.count) }
        return chunks
    }

    func testSpeak() async throws {
        let chunks = try await speakCounting(client(config()))
        XCTAssertEqual(chunks, [7680, 7680, 7680])
    }

    func testReconnect() async throws {
        let chunks = try await speakCounting(client(config()))
        XCTAssertEqual(chunks.count, 3)
    }

    func testThrottled() async throws {
        let started = Date()
        _ = try await speakCounting(client(config()))
        // The header says 2; the client's own fallback is 1, so 2 s proves it read the header.
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 2)
    }

    func testLongWait() async throws {
        let started = Date()
        let broker = TokenBroker(config: try config())
        let error = await clientError { _ = try await broker.fetchToken() }
        XCTAssertEqual(error, .rateLimited(retryAfter: 600))
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
    }

    func testServerError() async throws {
        let broker = TokenBroker(config: try config())
        let error = await clientError { _ = try await broker.fetchToken() }
        XCTAssertEqual(error, .brokerUnavailable(status: 502))
    }

    func testUnavailable() async throws {
        let waits = Waits()
        var config = try config()
        config.onWait = { seconds, reason in waits.add(seconds, reason) }
        let started = Date()
        let chunks = try await speakCounting(client(config))
        XCTAssertEqual(chunks.count, 3)
        let seen = waits.all
        XCTAssertEqual(seen.count, 1)
        XCTAssertEqual(seen.first?.1, .unavailable)
        XCTAssertGreaterThanOrEqual(seen.first?.0 ?? 0, 1)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1)
    }

    func testSignedOut() async throws {
        var config = try config()
        config.idToken = { nil }
        let broker = TokenBroker(config: config)
        let error = await clientError { _ = try await broker.fetchToken() }
        XCTAssertEqual(error, .signInAgain)
    }

    func testRefusedSignIn() async throws {
        var config = try config()
        config.idToken = { "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." }
        let broker = TokenBroker(config: config)
        let error = await clientError { _ = try await broker.fetchToken() }
        XCTAssertEqual(error, .signInAgain)
    }

    func testNotAllowed() async throws {
        let broker = TokenBroker(config: try config())
        let error = await clientError { _ = try await broker.fetchToken() }
        XCTAssertEqual(error, .notAllowed)
    }

    func testMidStream() async throws {
        let client = client(try config())
        var chunks: [Int] = []
        let error = await clientError { try await client.speak("Hello", voiceId: self.voice) { chunks.append($0.count) } }
        guard case .connectionLost = error else { return XCTFail("expected connectionLost, got \(String(describing: error))") }
        XCTAssertEqual(chunks, [7680])
    }

    func testNoReady() async throws {
        let client = client(try config())
        let started = Date()
        let error = await clientError { _ = try await client.openSession(.tts, setup: ["voice_id": "x"]) }
        XCTAssertEqual(error, .timeout(waitingFor: "ready"))
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testGradiumError() async throws {
        let client = client(try config())
        let error = await clientError { _ = try await self.speakCounting(client, voiceId: "no-such-voice") }
        XCTAssertEqual(error, .gradium(code: 1011, message: "Unknown voice_id"))
    }

    func testAsr() async throws {
        let client = client(try config())
        let chunks = AsyncStream<Data> { continuation in
            for _ in 0..<25 { continuation.yield(Data(count: 3200)) } // 100 ms of 16 kHz 16-bit mono each
            continuation.finish()
        }
        var texts: [String] = []
        try await client.transcribe(chunks, inputFormat: "pcm_16000") { texts.append($0) }
        XCTAssertEqual(texts, ["hello", "hello", "world"])
    }

    func testPrefetchAhead() async throws {
        let config = try config()
        let prefetch = TokenPrefetch(config: config)
        await prefetch.warm()
        let warmed = await prefetch.ready()
        XCTAssertTrue(warmed)
        let client = client(config, tokens: prefetch)
        let first = try await speakCounting(client)
        let second = try await speakCounting(client)
        XCTAssertEqual([first.count, second.count], [3, 3])
        let keptOne = await prefetch.ready() // the third, for a next connection that may never come
        XCTAssertTrue(keptOne)
        await prefetch.warm() // no second one held: warm() does nothing while one is
    }

    func testPrefetchExpiry() async throws {
        let config = try config()
        let prefetch = TokenPrefetch(config: config, discardWithinSeconds: 30)
        await prefetch.warm()
        let warmed = await prefetch.ready()
        XCTAssertTrue(warmed)
        let chunks = try await speakCounting(client(config, tokens: prefetch))
        XCTAssertEqual(chunks.count, 3)
        _ = await prefetch.ready() // the next one's fetch ends here, not during the next test
    }

    func testPrefetchQuiet() async throws {
        let prefetch = TokenPrefetch(config: try config())
        await prefetch.warm()
        let afterRefusal = await prefetch.ready()
        XCTAssertFalse(afterRefusal) // the 429 ended it, without a retry
        for _ in 0..<5 { await prefetch.warm() } // quiet until Retry-After has passed: no request
        let stillNone = await prefetch.ready()
        XCTAssertFalse(stillNone)
    }
}

/// The waits onWait heard, from whichever thread.
private final class Waits: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [(Double, WaitReason)] = []

    func add(_ seconds: Double, _ reason: WaitReason) { lock.withLock { seen.append((seconds, reason)) } }
    var all: [(Double, WaitReason)] { lock.withLock { seen } }
}
