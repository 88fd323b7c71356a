import Foundation
import XCTest
@testable import TrendSplitRecorder

/// The fixture reader and the results-file writer, in the layout `harness/results.py` reads.
final class ResultsFileTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    /// The generic fixture layout: two inputs (one case), bit patterns of 1.0, -0.0 and 2.5.
    static let tiny = """
        {"kind": "model_tiny", "provenance": {"model": "tiny", "generator_seed": 7,
         "weights_sha256": "0000000000000000000000000000000000000000000000000000000000000000"},
         "cases": [{"name": "c0", "inputs": {"x": [1065353216, 2147483648], "b": [[1075838976]]},
                    "outputs": {"y": [1056964608]}}]}
        """

    static let weights = String(repeating: "ab", count: 32)

    func json(_ results: ResultsFile) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: results.jsonData()) as? [String: Any] ?? [:]
    }

    func testTheInputHashIsPythonsFeedsSha256() throws {
        // harness.results.feeds_sha256({"x": [[1.0, -0.0]], "b": [[[2.5]]]}) in Python
        let fixture = try Fixture.parse(Data(Self.tiny.utf8))
        XCTAssertEqual(fixture.inputNames, ["b", "x"])
        XCTAssertEqual(fixture.inputsSHA256(), "d58df9cb7c1c4687e202ca119762d76d92b01127eca0b93b4b07cd09c84b1de4")
    }

    func testAResultsFileCarriesFormatInputsProvenanceAndLittleEndianBase64() throws {
        let fixture = try Fixture.parse(Data(Self.tiny.utf8))
        let provenance = Provenance(device: "iPhone15,2", os: "iOS 17.4.0", created: "2026-01-01T00:00:00Z",
                                    extra: ["app": "1.2"])
        let results = try ResultsFile.recording(fixture: fixture, precision: "fp16", option: "CPU_AND_NE",
                                                loadedWeightsSHA256: Self.weights, outputs: [["y": [0.5]]], seconds: 0.25, provenance: provenance)
        let doc = try json(results)
        XCTAssertEqual(doc["format"] as? String, "trendsplit-harness/results")
        XCTAssertEqual(doc["version"] as? Int, 1)
        XCTAssertEqual((doc["backend"] as? [String: Any])?["label"] as? String, "coreml@fp16[CPU_AND_NE]")
        let inputs = doc["inputs"] as? [String: Any]
        XCTAssertEqual(inputs?["seed"] as? Int, 7)
        XCTAssertEqual(inputs?["count"] as? Int, 1)
        XCTAssertEqual(inputs?["sha256"] as? String, fixture.inputsSHA256())
        let y = (doc["outputs"] as? [String: Any])?["y"] as? [String: Any]
        XCTAssertEqual(y?["dtype"] as? String, "float32")
        XCTAssertEqual(y?["shape"] as? [Int], [1, 1])
        XCTAssertEqual(y?["data"] as? String, "AAAAPw==")  // 0.5 = 0x3F000000, little-endian 00 00 00 3F
        let p = doc["provenance"] as? [String: String]
        XCTAssertEqual(p?["device"], "iPhone15,2")
        XCTAssertEqual(p?["os"], "iOS 17.4.0")
        XCTAssertEqual(p?["app"], "1.2")
        XCTAssertEqual((doc["model"] as? [String: Any])?["name"] as? String, "tiny")
    }

    func testAMissingSeedIsWrittenAsNull() throws {
        var fixture = try Fixture.parse(Data(Self.tiny.utf8))
        fixture.seed = nil
        let results = try ResultsFile.recording(fixture: fixture, precision: "fp32", option: "",
                                                loadedWeightsSHA256: Self.weights, outputs: [["y": [0.5]]], seconds: 0)
        let text = String(decoding: try results.jsonData(), as: UTF8.self)
        XCTAssertTrue(text.contains("\"seed\" : null"), text)
        XCTAssertEqual(results.backend, "coreml@fp32")
    }

    func testOutputsThatDoNotMatchTheCasesAreRefused() throws {
        let fixture = try Fixture.parse(Data(Self.tiny.utf8))
        XCTAssertThrowsError(try ResultsFile.recording(fixture: fixture, precision: "fp16", option: "ALL",
                                                       loadedWeightsSHA256: Self.weights, outputs: [], seconds: 0)) { error in
            guard case RecorderError.badOutputs = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ResultsFile.recording(fixture: fixture, precision: "fp16", option: "ALL",
                                                       loadedWeightsSHA256: Self.weights, outputs: [["y": [0.5, 0.25]]], seconds: 0))
    }

    func testNotAFixtureIsOneNamedError() {
        for text in ["", "{}", "[1]", #"{"kind": "encoding_cases", "provenance": {}, "cases": []}"#,
                     #"{"kind": "model_x", "provenance": {"model": "x", "weights_sha256": "0"}, "cases": [{"name": "a", "inputs": {"x": [[1, 2], [3]]}}]}"#] {
            XCTAssertThrowsError(try Fixture.parse(Data(text.utf8)), text) { error in
                guard case RecorderError.badFixture = error else { return XCTFail("\(text): \(error)") }
            }
        }
    }

    func testTheGoldenTrendsplitFixtureReadsAsItsModelsInputs() throws {
        let fixture = try Fixture.read(Self.folder.appendingPathComponent("model_trendsplit.json"))
        XCTAssertEqual(fixture.model, "trendsplit")
        XCTAssertEqual(fixture.cases.count, 24)
        XCTAssertEqual(fixture.cases[0].inputs["points"]?.shape, [2, 100])
        XCTAssertEqual(fixture.cases[0].outputs["split_probs"]?.shape, [100])
        var flipped = fixture
        flipped.cases[5].inputs["points"]!.bits[17] ^= 1  // one bit of one input: another hash
        XCTAssertNotEqual(flipped.inputsSHA256(), fixture.inputsSHA256())
    }

    func testAWrittenFileIsWholeAndReadable() throws {
        let fixture = try Fixture.read(Self.folder.appendingPathComponent("model_trendsplit.json"))
        let replay = fixture.cases.map { $0.outputs.mapValues(\.values) }
        let results = try ResultsFile.recording(fixture: fixture, name: "torch-replay", precision: "fp32",
                                                option: "", loadedWeightsSHA256: Self.weights, outputs: replay,
                                                seconds: 0)
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("recorder-\(UUID().uuidString)").appendingPathComponent("replay.json")
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        try results.write(to: url)
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
        let probs = (doc?["outputs"] as? [String: Any])?["split_probs"] as? [String: Any]
        XCTAssertEqual(probs?["shape"] as? [Int], [24, 100])
        let bytes = Data(base64Encoded: probs?["data"] as? String ?? "") ?? Data()
        XCTAssertEqual(bytes.count, 24 * 100 * 4)
    }
}
