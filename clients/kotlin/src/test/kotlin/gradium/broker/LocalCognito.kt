package gradium.broker

import java.net.HttpURLConnection
import java.net.URL
import org.json.JSONObject

/**
 * A debug build's sign-in against `make serve`'s local Cognito: one plain InitiateAuth call
 * (USER_PASSWORD_AUTH) over HTTP, as an app would make it. Amplify Android cannot use that endpoint (it
 * speaks HTTPS to a bare host name only: docs/clients.md), so a dev build takes its ID token this way;
 * a release build takes it from Amplify (`Amplify.Auth.fetchAuthSession()`), never from a password.
 */
object LocalCognito {
    fun idToken(endpoint: String, clientId: String, username: String, password: String): String {
        val connection = URL(endpoint).openConnection() as HttpURLConnection
        try {
            connection.requestMethod = "POST"
            connection.doOutput = true
            connection.setRequestProperty("Content-Type", "application/x-amz-json-1.1")
            connection.setRequestProperty("X-Amz-Target", "AWSCognitoIdentityProviderService.InitiateAuth")
            val request = JSONObject()
                .put("AuthFlow", "USER_PASSWORD_AUTH")
                .put("ClientId", clientId)
                .put("AuthParameters", JSONObject().put("USERNAME", username).put("PASSWORD", password))
            connection.outputStream.use { it.write(request.toString().toByteArray()) }
            val status = connection.responseCode
            check(status == 200) { "the local Cognito answered $status" }
            val answer = JSONObject(connection.inputStream.use { String(it.readBytes()) })
            return answer.getJSONObject("AuthenticationResult").getString("IdToken")
        } finally {
            connection.disconnect()
        }
    }
}
