import XCTest
@testable import TrendSplitCore

/// The Swift encoder and decoder reproduce the Python fixtures bit for bit.
final class GoldenFixtureTests: XCTestCase {
    func encodingCasesMatchPython(version: Int) throws {
        let cases = try Fixtures.load(Fixtures.encodingFiles[version]!, as: Fixtures.EncodingCase.self)
        XCTAssertGreaterThan(cases.count, 70)
        var errorsSeen = Set<String>()
        for c in cases {
            let points = c.points.map(Fixtures.doubles)
            do {
                let out = try TrendSplitEncoder.encode(points: points, version: version)
                guard let channels = c.channels else {
                    XCTFail("v\(version) \(c.name): Swift encoded it, Python said \(c.error ?? "?")")
                    continue
                }
                let n = points.count
                let length = TrendSplitEncoder.length
                XCTAssertEqual(channels.count, try TrendSplitEncoder.channels(version: version), c.name)
                XCTAssertEqual(out.count, channels.count * length, c.name)
                for (k, bits) in channels.enumerated() {
                    let start = k * length
                    XCTAssertEqual(out[start..<(start + n)].map(\.bitPattern), bits, "v\(version) \(c.name): channel \(k)")
                    XCTAssertTrue(out[(start + n)..<(start + length)].allSatisfy { $0.bitPattern == 0 },
                                  "v\(version) \(c.name): channel \(k) padding")
                }
            } catch let error as TrendSplitError {
                XCTAssertEqual(error.code, c.error, "v\(version) \(c.name): \(error)")
                errorsSeen.insert(error.code)
            }
        }
        XCTAssertEqual(errorsSeen, Set(TrendSplitError.encodingCodes), "every rule has a golden case")
    }

    func testEncodingV1CasesMatchPythonBitForBit() throws { try encodingCasesMatchPython(version: 1) }

    func testEncodingV2CasesMatchPythonBitForBit() throws { try encodingCasesMatchPython(version: 2) }

    func testEncodingV3CasesMatchPythonBitForBit() throws { try encodingCasesMatchPython(version: 3) }

    func testEncodingV4CasesMatchPythonBitForBit() throws { try encodingCasesMatchPython(version: 4) }

    func modelCasesEncodeAndDecodeLikePython(model: String, version: Int) throws {
        let cases = try Fixtures.load("model_\(model).json", as: Fixtures.ModelCase.self)
        XCTAssertFalse(cases.isEmpty)
        // The contract as the app builds it from the exported metadata (Python writes the
        // threshold only where it is not 0.5, with repr(): "0.41").
        let threshold = try Fixtures.threshold("model_\(model).json")
        var metadata = [TrendSplitContract.metadataKey: String(version)]
        if threshold != 0.5 { metadata[TrendSplitContract.thresholdKey] = String(threshold) }
        let contract = try TrendSplitContract(metadata: metadata)
        for c in cases {
            let points = c.points.map(Fixtures.doubles)
            let encoded = try contract.encode(x: points.map { $0[0] }, y: points.map { $0[1] })
            XCTAssertEqual(encoded.values.map(\.bitPattern), c.input_bits.flatMap { $0 }, "\(c.name): input")
            let probs = c.output_bits.map(Float.init(bitPattern:))
            XCTAssertEqual(try contract.splits(probs, count: points.count), c.splits, c.name)
        }
    }

    func testModelCasesEncodeAndDecodeLikePython() throws {
        try modelCasesEncodeAndDecodeLikePython(model: "trendsplit", version: 1)
    }

    func testV2ModelCasesEncodeAndDecodeLikePython() throws {
        try modelCasesEncodeAndDecodeLikePython(model: "trendsplit-v2", version: 2)
    }

    func testV3ModelCasesEncodeAndDecodeLikePython() throws {
        try modelCasesEncodeAndDecodeLikePython(model: "trendsplit-v3", version: 3)
    }

    func testV3bModelCasesEncodeAndDecodeLikePython() throws {
        try modelCasesEncodeAndDecodeLikePython(model: "trendsplit-v3b", version: 3)
    }

    func testV4ModelCasesEncodeAndDecodeLikePython() throws {
        try modelCasesEncodeAndDecodeLikePython(model: "trendsplit-v4", version: 4)
    }

    func testErrorCodesAreThePythonCodesInOrder() {
        XCTAssertEqual(TrendSplitError.encodingCodes, [
            "bad_point", "too_few_points", "too_many_points", "non_finite", "unsorted_x",
            "zero_x_range", "encoding_overflow",
        ])
    }
}
