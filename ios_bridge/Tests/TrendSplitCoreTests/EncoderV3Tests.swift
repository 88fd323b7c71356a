import XCTest
@testable import TrendSplitCore

/// Encoding v3: v2's channels unchanged; the noise scale, the steps and the residuals in noise scales by hand; v1's rules.
final class EncoderV3Tests: XCTestCase {
    let length = TrendSplitEncoder.length

    func channel(_ out: [Float], _ c: Int, _ n: Int) -> [Float] { Array(out[(c * length)..<(c * length + n)]) }

    func testNoiseScaleAndStepsByHand() throws {
        // residuals 1, 2 and 0 from the lines through each reading's neighbours: the lower median is 1
        let points: [[Double]] = [[0, 0], [1, 1], [2, 0], [4, 4], [6, 8]]
        let out = try TrendSplitEncoder.encode(points: points, version: 3)
        XCTAssertEqual(out.count, 7 * length)
        XCTAssertEqual(channel(out, 5, 5), [1, 1, 1, 1, 1])
        XCTAssertEqual(channel(out, 4, 5), [1, -1, 4, 4, 0])
        XCTAssertEqual(channel(out, 6, 5), [0, 1, -2, 0, 0])
        XCTAssertTrue(out[(4 * length + 5)..<(5 * length)].allSatisfy { $0.bitPattern == 0 })
        XCTAssertTrue(out[(5 * length + 5)..<(6 * length)].allSatisfy { $0.bitPattern == 0 })
        XCTAssertFalse(channel(out, 6, 5).contains { $0 == 0 && $0.sign == .minus })  // no -0.0
        XCTAssertTrue(out[(6 * length + 5)...].allSatisfy { $0.bitPattern == 0 })
        let quartered = try TrendSplitEncoder.encode(points: points.map { [$0[0], $0[1] / 4] }, version: 3)
        XCTAssertEqual(quartered[5 * length], 0.25)
        XCTAssertEqual(channel(quartered, 4, 5), channel(out, 4, 5))
        XCTAssertEqual(channel(quartered, 6, 5), channel(out, 6, 5))
    }

    func testTheLowerMedianTheClampsAndNoJudgedReading() throws {
        func scale(_ points: [[Double]]) throws -> Float {
            try TrendSplitEncoder.encode(points: points, version: 3)[5 * length]
        }
        // residuals 1, 1.25, 1.5, 0.75: the lower median, 1, not the mean of the middle two
        XCTAssertEqual(try scale([[0, 0], [1, 1], [2, 0], [3, 1.5], [4, 0], [5, 0]]), 1)
        XCTAssertEqual(try scale([[0, 5], [1, 5], [3, 5]]), 0.125)  // flat: the floor
        XCTAssertEqual(try scale([[0, 0], [1, 1e6], [2, 0]]), 32)  // a misread: the cap
        XCTAssertEqual(try scale([[0, 0], [1, 7]]), 1)  // two readings: none judged
        XCTAssertEqual(try scale([[0, 0], [0, 1], [0, 3], [1, 0]]), 2)  // neighbours sharing x are skipped
    }

    func testV3StartsWithV2sChannelsBitForBit() throws {
        let points: [[Double]] = [[19_000.25, 3.5], [19_000.5, 4.25], [19_002, -1], [19_003.75, 0.5], [19_004, 9]]
        let v2 = try TrendSplitEncoder.encode(points: points, version: 2)
        let v3 = try TrendSplitEncoder.encode(points: points, version: 3)
        XCTAssertEqual(v2.map(\.bitPattern), v3[0..<(4 * length)].map(\.bitPattern))
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
            XCTAssertEqual(code(points, 3), code(points, 1), "\(points.prefix(3))")
        }
    }
}
