import Foundation
import XCTest
@testable import GradiumBroker

/// The parts that need no server: Retry-After, the token answer, what is printed, a session's messages.
final class ClientUnitTests: XCTestCase {
    func testRetryAfterIsWholeAsciiSeconds() {
        XCTAssertEqual(TokenBroker.retryAfterSeconds(" 2 "), 2)
        XCTAssertEqual(TokenBroker.retryAfterSeconds("600"), 600)
        XCTAssertEqual(TokenBroker.retryAfterSeconds(nil), 1) // a stage throttle sends none
        XCTAssertEqual(TokenBroker.retryAfterSeconds("٣"), 1) // Arabic-Indic three: not an HTTP number
        XCTAssertEqual(TokenBroker.retryAfterSeconds("Wed, 21 Oct 2026 07:28:00 GMT"), 1)
        XCTAssertEqual(TokenBroker.retryAfterSeconds("99999999999999999999"), Int.max) // refused, not slept
    }

    func testATokenAnswerIsParsedAndNeverPrinted() throws {
        let token = try TokenBroker.parseToken(Data(#"{"token": "gtk_secret", "expires_at": "2026-12-07T12:00:00Z"}"#.utf8))
        XCTAssertEqual(token.token, "gtk_secret")
        XCTAssertEqual(token.expiresAt, ISO8601DateFormatter().date(from: "2026-12-07T12:00:00Z"))
        var dumped = ""
        dump(token, to: &dumped)
        XCTAssertFalse("\(token)".contains("gtk_secret") || dumped.contains("gtk_secret"))
        let offset = try TokenBroker.parseToken(Data(#"{"token": "t", "expires_at": "2026-12-07T12:00:00+00:00"}"#.utf8))
        XCTAssertEqual(offset.expiresAt, token.expiresAt)
    }

    func testAnOddTokenAnswerIsBrokerUnavailableWithoutItsBody() {
        for body in ["not json", #"{"token": "gtk_secret"}"#, #"{"token": "gtk_secret", "expires_at": "soon"}"#] {
            XCTAssertThrowsError(try TokenBroker.parseToken(Data(body.utf8))) { error in
                XCTAssertEqual(error as? GradiumClientError, .brokerUnavailable(status: 200))
            }
        }
    }

    private final class FakeSocket: SpeechSocket, @unchecked Sendable {
        var sent: [String] = []
        var closedWith: Int?

        func send(_ text: String) { if closedWith == nil { sent.append(text) } }
        func close(code: Int) { closedWith = code }
    }

    private func session() -> (GradiumSession, FakeSocket) {
        let socket = FakeSocket()
        let session = GradiumSession(idleTimeout: 0.2)
        session.attach(socket)
        return (session, socket)
    }

    func testMessagesBeforeAFailureComeFirstEvenAfterASendIntoTheClosedSocket() async {
        let (session, socket) = session()
        session.onMessage(#"{"type": "audio", "audio": "AQID"}"#)
        session.onMessage("not json at all") // skipped
        session.onClosed(code: 1001, reason: "going away")
        socket.closedWith = 1001
        session.endOfStream() // dropped by the closed socket, and not an error
        guard case .audio(let pcm)? = try? await session.next() else { return XCTFail("no audio first") }
        XCTAssertEqual([UInt8](pcm), [1, 2, 3])
        let error = await clientError { _ = try await session.next() }
        XCTAssertEqual(error, .connectionLost(code: 1001))
    }

    func testAnErrorMessageIsTypedByItsCode() async {
        let (refused, socket) = session()
        refused.onMessage(#"{"type": "error", "message": "token expired", "code": 1008}"#)
        let rejected = await clientError { _ = try await refused.next() }
        XCTAssertEqual(rejected, .tokenRejected("token expired"))
        XCTAssertEqual(socket.closedWith, 1000)
        let (failed, _) = session()
        failed.onMessage(#"{"type": "error", "message": "Unknown voice_id"}"#)
        let gradium = await clientError { _ = try await failed.next() }
        XCTAssertEqual(gradium, .gradium(code: 1011, message: "Unknown voice_id"))
    }

    func testEndOfStreamEndsTheSessionAndSilenceTimesOut() async throws {
        let (ended, _) = session()
        ended.onMessage(#"{"type": "end_of_stream"}"#)
        let first = try await ended.next()
        let second = try await ended.next() // stays ended, without waiting
        XCTAssertNil(first)
        XCTAssertNil(second)
        let (silent, socket) = session()
        let timedOut = await clientError { _ = try await silent.next(waitingFor: "ready") }
        XCTAssertEqual(timedOut, .timeout(waitingFor: "ready"))
        XCTAssertEqual(socket.closedWith, 1000)
    }
}
