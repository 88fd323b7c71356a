import XCTest
@testable import TrendSplitCore

/// Encoding v2: v1's channels unchanged, the step channels by hand, and the same rules.
final class EncoderV2Tests: XCTestCase {
    let length = TrendSplitEncoder.length

    func testStepsByHandClampedAndZeroAtTheEnds() throws {
        let out = try TrendSplitEncoder.encode(points: [[0, 0], [1, 5], [1, 500], [3, -1]], version: 2)
        XCTAssertEqual(out.count, 4 * length)
        XCTAssertEqual(Array(out[(2 * length)..<(2 * length + 4)]), [5, 100, -100, 0])
        XCTAssertEqual(Array(out[(3 * length)..<(3 * length + 4)]), [1, 0, 2, 0])
        XCTAssertTrue(out[(2 * length + 4)..<(3 * length)].allSatisfy { $0.bitPattern == 0 })
        XCTAssertTrue(out[(3 * length + 4)...].allSatisfy { $0.bitPattern == 0 })
    }

    func testV2StartsWithV1sChannelsBitForBit() throws {
        let points: [[Double]] = [[19_000.25, 3.5], [19_000.5, 4.25], [19_002, -1], [19_003.75, 0.5]]
        let v1 = try TrendSplitEncoder.encode(points: points)
        let v2 = try TrendSplitEncoder.encode(points: points, version: 2)
        XCTAssertEqual(v1.map(\.bitPattern), v2[0..<(2 * length)].map(\.bitPattern))
    }

    func testTheFlushIsDecidedInBinary64() throws {
        // The largest Double below 2^-14 rounds to 2^-14 as a Float, but the rule flushes it first.
        let below = (0x1p-14 as Double).nextDown
        XCTAssertEqual(Float(below), Float(0x1p-14))
        let out = try TrendSplitEncoder.encode(points: [[0, 0], [below, 0x1p-14], [1, 0]], version: 2)
        XCTAssertEqual(out[3 * length].bitPattern, 0)  // dx = below: flushed
        XCTAssertEqual(out[2 * length], Float(0x1p-14))  // dy = 2^-14: kept
    }

    func testEveryRuleAndItsOrderAreV1s() {
        func code(_ points: [[Double]], _ version: Int) -> String? {
            do { _ = try TrendSplitEncoder.encode(points: points, version: version); return nil }
            catch let error as TrendSplitError { return error.code }
            catch { return "unexpected" }
        }
        let cases: [[[Double]]] = [
            [[0, 1, 2], [1, 1]], [[0, 1]], (0..<101).map { _ in [Double.nan, 0] }, [[1, .nan], [0, 0]],
            [[1, 0], [0, 1]], [[1, 0], [1, 1]], [[0, 0], [1, 1e300]], [[0, -1e30], [1, 1e30]],
        ]
        for points in cases {
            XCTAssertEqual(code(points, 2), code(points, 1), "\(points.prefix(3))")
        }
    }

    func testUnknownVersionsAreRefusedByName() {
        for version in [0, 5, -1] {
            XCTAssertThrowsError(try TrendSplitEncoder.encode(points: [[0, 0], [1, 1]], version: version)) {
                XCTAssertEqual($0 as? TrendSplitError, .unsupportedVersion(version: version))
                XCTAssertEqual(($0 as? TrendSplitError)?.code, "unsupported_version")
            }
        }
    }
}
