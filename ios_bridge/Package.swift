// swift-tools-version:5.9
// The Swift side of the trendsplit pipeline: the app's input encoding (bit-exact to the
// Python encoder the model was trained with), the CoreML runner, the encoder served
// over stdin/stdout so the Python harness can fuzz it, and a recorder of device results.
import PackageDescription

let package = Package(
    name: "TrendSplit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "TrendSplitCore", targets: ["TrendSplitCore"]),
        .library(name: "TrendSplitCoreML", targets: ["TrendSplitCoreML"]),
        .library(name: "TrendSplitRecorder", targets: ["TrendSplitRecorder"]),
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
        // Records a device's numbers on a golden fixture as a results file the harness compares.
        // The file writer, SHA-256 and fixture reader build and test on Linux; the CoreML run
        // (CoreMLRecorder.swift) is wrapped whole in `#if canImport(CoreML)`.
        .target(name: "TrendSplitRecorder", dependencies: ["TrendSplitCoreML"]),
        .testTarget(name: "TrendSplitCoreTests", dependencies: ["TrendSplitCore"]),
        .testTarget(name: "TrendSplitWireTests", dependencies: ["TrendSplitWire"]),
        .testTarget(name: "TrendSplitRecorderTests", dependencies: ["TrendSplitRecorder"]),
    ]
)
