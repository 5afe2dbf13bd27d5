import Foundation

/// Every failure the client hands to the app, one case per answer of the broker or Gradium: the rows of
/// docs/clients.md's behaviour table, as clients/typescript/gradium-client.ts throws them.
public enum GradiumClientError: Error, Equatable, Sendable {
    /// 401, or no ID token: the Cognito session is gone. Sign the user in again; retrying cannot help.
    case signInAgain
    /// 403: this user may not get tokens (the stack's RequiredGroup).
    case notAllowed
    /// 429 with a wait over maxWaitSeconds (a daily cap), or still 429 after the attempts.
    case rateLimited(retryAfter: Int)
    /// The broker failed: a 500/502/504 (not retried: a 502 or 504 spent one of the user's tokens), a 503
    /// or network failure through every attempt, or a 503 whose Retry-After is over maxWaitSeconds.
    case brokerUnavailable(status: Int?, retryAfter: Int? = nil)
    /// Gradium refused the token (1008: used, expired or invalid): connect again with a new token.
    case tokenRejected(String)
    /// Any other Gradium error (a bad voice_id, 1011...): Gradium's own message, not worth a retry.
    case gradium(code: Int, message: String)
    /// The socket closed without end_of_stream or an error message (a dropped network).
    case connectionLost(code: Int)
    /// `ready`, or the next message, did not come in time.
    case timeout(waitingFor: String)
}
