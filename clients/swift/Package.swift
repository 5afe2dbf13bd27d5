// swift-tools-version:5.9
// The Gradium token broker's Swift client: iOS 16+ and macOS 13+ apps, and Linux (where its tests run
// against `make serve`: tests/clients). No dependency; the app supplies the ID token (Amplify's, in a
// release build).
import PackageDescription

let package = Package(
    name: "GradiumBroker",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [.library(name: "GradiumBroker", targets: ["GradiumBroker"])],
    targets: [
        .target(name: "GradiumBroker"),
        .testTarget(name: "GradiumBrokerTests", dependencies: ["GradiumBroker"]),
    ]
)
