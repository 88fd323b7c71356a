import XCTest
@testable import TrendSplitCore

/// A model's declared encoding version decides how points are encoded; input of another
/// version fails with `versionMismatch` (what TrendSplitModel and the React Native module do).
final class ContractTests: XCTestCase {
    let x: [Double] = [0, 1, 2.5, 4], y: [Double] = [0, 3, 1, 7]

    func testTheModelsMetadataChoosesTheEncoding() throws {
        let v1 = try TrendSplitContract(metadata: ["encoding_version": "1"])
        let v2 = try TrendSplitContract(metadata: ["encoding_version": "2", "author": "x"])
        XCTAssertEqual(try v1.encode(x: x, y: y).values.count, 200)
        XCTAssertEqual(try v2.encode(x: x, y: y).values.count, 400)
        XCTAssertEqual(v2.channels, 4)
        XCTAssertEqual(try v2.encode(x: x, y: y).values, try TrendSplitEncoder.encode(x: x, y: y, version: 2))
    }

    func testAV2ModelRefusesV1InputAndViceVersa() throws {
        let v1 = try TrendSplitContract(encodingVersion: 1)
        let v2 = try TrendSplitContract(encodingVersion: 2)
        let in1 = try TrendSplitEncoded(x: x, y: y, version: 1)
        let in2 = try TrendSplitEncoded(x: x, y: y, version: 2)
        XCTAssertThrowsError(try v2.check(in1)) {
            XCTAssertEqual($0 as? TrendSplitError, .versionMismatch(model: 2, input: 1))
            XCTAssertEqual(($0 as? TrendSplitError)?.code, "encoding_version_mismatch")
        }
        XCTAssertThrowsError(try v1.check(in2)) {
            XCTAssertEqual($0 as? TrendSplitError, .versionMismatch(model: 1, input: 2))
        }
        XCTAssertNoThrow(try v1.check(in1))
        XCTAssertNoThrow(try v2.check(in2))
        // Raw Float arrays (fixtures, recorders): the count tells the version apart.
        XCTAssertThrowsError(try v2.check(values: in1.values)) {
            XCTAssertEqual($0 as? TrendSplitError, .versionMismatch(model: 2, input: 1))
        }
        XCTAssertThrowsError(try v1.check(values: [Float](repeating: 0, count: 7))) {
            XCTAssertEqual(($0 as? TrendSplitError)?.code, "prediction_failed")
        }
    }

    func testJavaScriptsExpectedVersionMustBeTheModels() throws {
        let v2 = try TrendSplitContract(encodingVersion: 2)
        XCTAssertNoThrow(try v2.require(expected: nil))
        XCTAssertNoThrow(try v2.require(expected: 2))
        XCTAssertThrowsError(try v2.require(expected: 1)) {
            XCTAssertEqual($0 as? TrendSplitError, .versionMismatch(model: 2, input: 1))
        }
    }

    func testTheModelsThresholdDecidesItsSplits() throws {
        var probs = [Float](repeating: 0, count: TrendSplitEncoder.length)
        probs[1] = 0.45
        probs[2] = Float("0.41")!  // exactly the threshold: not above it, on both sides
        probs[3] = Float("0.41")!.nextUp
        let tuned = try TrendSplitContract(metadata: ["encoding_version": "2", "decision_threshold": "0.41"])
        let plain = try TrendSplitContract(metadata: ["encoding_version": "2"])
        XCTAssertEqual(tuned.decisionThreshold, Float("0.41")!)
        XCTAssertEqual(plain.decisionThreshold, TrendSplitDecoder.defaultThreshold)
        XCTAssertEqual(try tuned.splits(probs, count: 10), [1, 3])
        XCTAssertEqual(try plain.splits(probs, count: 10), [])
    }

    func testAThresholdThatIsNotAProbabilityIsRefused() {
        for text in ["abc", "", "nan", "inf", "0", "1", "-0.1", "1.5"] {
            XCTAssertThrowsError(
                try TrendSplitContract(metadata: ["encoding_version": "2", "decision_threshold": text]), text) {
                XCTAssertEqual(($0 as? TrendSplitError)?.code, "model_unavailable", "\(text): \($0)")
            }
        }
    }

    func testAModelWithoutAUsableVersionIsRefused() {
        for metadata in [[:], ["encoding_version": "two"], ["encoding_version": "5"]] as [[String: String]] {
            XCTAssertThrowsError(try TrendSplitContract(metadata: metadata), "\(metadata)") {
                let code = ($0 as? TrendSplitError)?.code
                XCTAssertTrue(code == "model_unavailable" || code == "unsupported_version", "\(metadata): \($0)")
            }
        }
    }
}
