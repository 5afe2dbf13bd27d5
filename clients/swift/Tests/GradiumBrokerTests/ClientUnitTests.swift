import Foundation
import XCTest
@testable import GradiumBroker

/// The parts that need no server: Retry-After, the token answer, what is printed.
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
}
