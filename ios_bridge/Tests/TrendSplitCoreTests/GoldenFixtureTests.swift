import XCTest
@testable import TrendSplitCore

/// The Swift encoder and decoder reproduce the Python fixtures bit for bit.
final class GoldenFixtureTests: XCTestCase {
    func testEncodingCasesMatchPythonBitForBit() throws {
        let cases = try Fixtures.load("encoding_cases.json", as: Fixtures.EncodingCase.self)
        XCTAssertGreaterThan(cases.count, 200)
        var errorsSeen = Set<String>()
        for c in cases {
            let points = c.points.map(Fixtures.doubles)
            do {
                let out = try TrendSplitEncoder.encode(points: points)
                guard let xBits = c.x_bits, let yBits = c.y_bits else {
                    XCTFail("\(c.name): Swift encoded it, Python said \(c.error ?? "?")")
                    continue
                }
                let n = points.count
                let length = TrendSplitEncoder.length
                XCTAssertEqual(out[0..<n].map(\.bitPattern), xBits, "\(c.name): x channel")
                XCTAssertEqual(out[length..<(length + n)].map(\.bitPattern), yBits, "\(c.name): y channel")
                XCTAssertTrue(out[n..<length].allSatisfy { $0.bitPattern == 0 }, "\(c.name): x padding")
                XCTAssertTrue(out[(length + n)...].allSatisfy { $0.bitPattern == 0 }, "\(c.name): y padding")
            } catch let error as TrendSplitError {
                XCTAssertEqual(error.code, c.error, "\(c.name): \(error)")
                errorsSeen.insert(error.code)
            }
        }
        XCTAssertEqual(errorsSeen, Set(TrendSplitError.encodingCodes), "every rule has a golden case")
    }

    func testModelCasesEncodeAndDecodeLikePython() throws {
        let cases = try Fixtures.load("model_trendsplit.json", as: Fixtures.ModelCase.self)
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let points = c.points.map(Fixtures.doubles)
            let encoded = try TrendSplitEncoder.encode(points: points)
            XCTAssertEqual(encoded.map(\.bitPattern), c.input_bits.flatMap { $0 }, "\(c.name): input")
            let probs = c.output_bits.map(Float.init(bitPattern:))
            XCTAssertEqual(try TrendSplitDecoder.splits(probs, count: points.count), c.splits, c.name)
        }
    }

    func testErrorCodesAreThePythonCodesInOrder() {
        XCTAssertEqual(TrendSplitError.encodingCodes, [
            "bad_point", "too_few_points", "too_many_points", "non_finite", "unsorted_x",
            "zero_x_range", "encoding_overflow",
        ])
    }
}
