// swift-tools-version:5.9
// The Swift side of the trendsplit pipeline: the app's input encoding (bit-exact to the
// Python encoder the model was trained with), the CoreML runner, and the encoder served
// over stdin/stdout so the Python harness can fuzz it.
import PackageDescription

let package = Package(
    name: "TrendSplit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "TrendSplitCore", targets: ["TrendSplitCore"]),
        .library(name: "TrendSplitCoreML", targets: ["TrendSplitCoreML"]),
        .executable(name: "trendsplit-encode", targets: ["trendsplit-encode"]),
    ],
    targets: [
        // Foundation only: builds and tests on Linux.
        .target(name: "TrendSplitCore"),
        // Every file is wrapped whole in `#if canImport(CoreML)`: empty off Apple platforms.
        .target(name: "TrendSplitCoreML", dependencies: ["TrendSplitCore"]),
        // The framed stdin/stdout protocol the harness speaks (JSON lines + binary batches).
        .target(name: "TrendSplitWire", dependencies: ["TrendSplitCore"]),
        .executableTarget(name: "trendsplit-encode", dependencies: ["TrendSplitWire"]),
        .testTarget(name: "TrendSplitCoreTests", dependencies: ["TrendSplitCore"]),
        .testTarget(name: "TrendSplitWireTests", dependencies: ["TrendSplitWire"]),
    ]
)
