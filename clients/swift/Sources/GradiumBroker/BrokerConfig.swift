import Foundation

/// Why a token request waits before it is sent again.
public enum WaitReason: Sendable {
    case rateLimited, unavailable, network
}

/// What the app knows about its broker; the defaults are the TypeScript client's.
public struct BrokerConfig: Sendable {
    /// The stack's TokenUrl output (amplify_outputs.json: custom.gradium_token_url).
    public var tokenUrl: URL
    /// The signed-in user's Cognito ID token, never the access token; nil or "" when nobody is signed in.
    public var idToken: @Sendable () async throws -> String?
    /// Gradium's speech endpoints: "\(speechUrl)/tts" and "\(speechUrl)/asr".
    public var speechUrl: URL
    /// Token requests per fetchToken(), the first included: 429 and 503 waits, network failures.
    public var tokenAttempts = 4
    /// The longest Retry-After waited out here; a longer one (a daily cap) is thrown as rateLimited.
    public var maxWaitSeconds = 30
    /// One token request's timeout.
    public var requestTimeout: TimeInterval = 15
    /// How long Gradium may take to answer `setup` with `ready`.
    public var readyTimeout: TimeInterval = 10
    /// How long an open session may stay silent before it fails.
    public var idleTimeout: TimeInterval = 30
    /// Hears of each wait before a token request is sent again, e.g. to show "retrying in 2 s".
    public var onWait: (@Sendable (_ seconds: Double, _ reason: WaitReason) -> Void)?

    public static let gradiumSpeechUrl = URL(string: "wss://api.gradium.ai/api/speech")!

    public init(
        tokenUrl: URL,
        speechUrl: URL = BrokerConfig.gradiumSpeechUrl,
        idToken: @escaping @Sendable () async throws -> String?
    ) {
        self.tokenUrl = tokenUrl
        self.speechUrl = speechUrl
        self.idToken = idToken
    }
}
