import Foundation
@testable import GradiumBroker

/// The GradiumClientError `body` threw, or nil when it threw nothing (or another error).
func clientError(_ body: () async throws -> Void) async -> GradiumClientError? {
    do {
        try await body()
        return nil
    } catch {
        return error as? GradiumClientError
    }
}
