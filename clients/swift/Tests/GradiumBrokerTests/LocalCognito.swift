import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A debug build's sign-in against `make serve`'s local Cognito: one plain InitiateAuth call
/// (USER_PASSWORD_AUTH) over HTTP, as an app would make it. Amplify Swift cannot use that endpoint (it speaks
/// HTTPS to a bare host name only: docs/clients.md), so a dev build takes its ID token this way; a release
/// build takes it from Amplify (`Amplify.Auth.fetchAuthSession()`), never from a password.
enum LocalCognito {
    static func idToken(endpoint: URL, clientId: String, username: String, password: String) async throws -> String {
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("application/x-amz-json-1.1", forHTTPHeaderField: "Content-Type")
        request.setValue("AWSCognitoIdentityProviderService.InitiateAuth", forHTTPHeaderField: "X-Amz-Target")
        request.httpBody = try JSONSerialization.data(withJSONObject: [
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": clientId,
            "AuthParameters": ["USERNAME": username, "PASSWORD": password],
        ])
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200,
              let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let result = answer["AuthenticationResult"] as? [String: Any],
              let idToken = result["IdToken"] as? String
        else { throw URLError(.userAuthenticationRequired) }
        return idToken
    }
}
