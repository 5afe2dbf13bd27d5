// The Gradium token broker's Kotlin client, for an Android app (minSdk 26, Android 8) or a JVM 17 service.
// Include it as a module (settings.gradle.kts: include(":gradium-client"); project(":gradium-client")
// .projectDir = file("<this checkout>/clients/kotlin")), or copy src/main/kotlin into your app.
// CI here compiles the sources with kotlinc 2.4 against OkHttp 3.13 (Debian's) and runs the tests against
// `make serve` (tests/clients); Gradle itself cannot run here (no Maven Central), so this file states the
// versions an app is expected to resolve, not ones our CI downloaded.
plugins {
    kotlin("jvm") version "2.4.20"
    `java-library`
}

kotlin {
    jvmToolchain(17)
    compilerOptions { allWarningsAsErrors.set(true) }
}

dependencies {
    // The WebSocket: only calls that read the same in OkHttp 3, 4 and 5 are used; bring your app's OkHttp.
    api("com.squareup.okhttp3:okhttp:5.5.1")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.11.0")
    // org.json is part of Android (the Android Gradle plugin ignores this copy there); a JVM service needs it.
    implementation("org.json:json:20260522")
    testImplementation(kotlin("test-junit"))
    testImplementation("junit:junit:4.13.2")
}

// BrokerScenarios needs make serve and the stand-ins (tests/clients runs it); ClientUnitTest needs nothing.
tasks.test { filter { includeTestsMatching("gradium.broker.ClientUnitTest") } }
