import Foundation
import XCTest
@testable import TrendSplitRecorder

/// `ModelWeights` measures what `harness.mlpackage.weights_sha256` computes, on a package the
/// Python harness really exported (`fixtures/exported/`, with the hash the Python side computed).
final class ModelWeightsTests: XCTestCase {
    static let exported = ResultsFileTests.folder.appendingPathComponent("exported")

    func recorded() throws -> [String: String] {
        let data = try Data(contentsOf: Self.exported.appendingPathComponent("weights.json"))
        let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let packages = doc?["packages"] as? [String: [String: Any]] ?? [:]
        return packages.compactMapValues { $0["weights_sha256"] as? String }
    }

    func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testAnExportedPackageHashesAsThePythonSideComputed() throws {
        let expected = try recorded()
        XCTAssertFalse(expected.isEmpty)
        for (name, sha) in expected {
            XCTAssertEqual(try ModelWeights.sha256(model: Self.exported.appendingPathComponent(name)), sha, name)
        }
    }

    /// A compiled model keeps the weight files at its root (`@model_path/weights`): the same bytes, the same hash.
    func testTheCompiledLayoutHashesAsItsPackage() throws {
        let package = Self.exported.appendingPathComponent("tiny-fp32.mlpackage")
        let compiled = try temporaryFolder().appendingPathComponent("tiny.mlmodelc")
        try FileManager.default.createDirectory(at: compiled.appendingPathComponent("weights"),
                                                withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: package.appendingPathComponent("Data/com.apple.CoreML/weights/weight.bin"),
            to: compiled.appendingPathComponent("weights/weight.bin"))
        try Data("program".utf8).write(to: compiled.appendingPathComponent("model.mil"))
        XCTAssertEqual(try ModelWeights.sha256(model: compiled), try ModelWeights.sha256(model: package))
    }

    /// Other weights under the same name: one bit of the weight file changes the hash.
    func testOneFlippedWeightBitIsAnotherHash() throws {
        let package = Self.exported.appendingPathComponent("tiny-fp32.mlpackage")
        let copy = try temporaryFolder().appendingPathComponent("tiny-fp32.mlpackage")
        try FileManager.default.copyItem(at: package, to: copy)
        let weights = copy.appendingPathComponent("Data/com.apple.CoreML/weights/weight.bin")
        var bytes = [UInt8](try Data(contentsOf: weights))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: weights)
        XCTAssertNotEqual(try ModelWeights.sha256(model: copy), try ModelWeights.sha256(model: package))
    }

    func testASymlinkedWeightFileIsRefused() throws {
        let compiled = try temporaryFolder().appendingPathComponent("x.mlmodelc")
        try FileManager.default.createDirectory(at: compiled.appendingPathComponent("weights"),
                                                withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: compiled.appendingPathComponent("weights/weight.bin"),
            withDestinationURL: Self.exported.appendingPathComponent("weights.json"))
        XCTAssertThrowsError(try ModelWeights.sha256(model: compiled)) { error in
            guard case RecorderError.badModel = error else { return XCTFail("\(error)") }
        }
    }

    func testARecordedFileSaysWhichWeightsItLoaded() throws {
        let fixture = try Fixture.parse(Data(ResultsFileTests.tiny.utf8))
        let loaded = try ModelWeights.sha256(model: Self.exported.appendingPathComponent("tiny-fp32.mlpackage"))
        let results = try ResultsFile.recording(fixture: fixture, precision: "fp32", option: "CPU_ONLY",
                                                loadedWeightsSHA256: loaded, outputs: [["y": [0.5]]], seconds: 0)
        let doc = try JSONSerialization.jsonObject(with: results.jsonData()) as? [String: Any]
        let model = doc?["model"] as? [String: Any]
        XCTAssertEqual(model?["loaded_weights_sha256"] as? String, loaded)
        XCTAssertEqual(model?["weights_sha256"] as? String, fixture.weightsSHA256)  // the claim, checked by the harness
        XCTAssertThrowsError(try ResultsFile.recording(fixture: fixture, precision: "fp32", option: "CPU_ONLY",
                                                       loadedWeightsSHA256: "not a hash", outputs: [["y": [0.5]]],
                                                       seconds: 0))
    }
}
