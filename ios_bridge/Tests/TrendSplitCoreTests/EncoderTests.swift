import XCTest
@testable import TrendSplitCore

final class EncoderTests: XCTestCase {
    func testEachRuleThrowsItsOwnCase() {
        func code(_ points: [[Double]]) -> String? {
            do { _ = try TrendSplitEncoder.encode(points: points); return nil }
            catch let error as TrendSplitError { return error.code }
            catch { return "unexpected" }
        }
        XCTAssertEqual(code([[0, 1, 2], [1, 1]]), "bad_point")
        XCTAssertEqual(code([[0, 1]]), "too_few_points")
        XCTAssertEqual(code((0..<101).map { [Double($0), 0] }), "too_many_points")
        XCTAssertEqual(code([[0, 0], [.nan, 1]]), "non_finite")
        XCTAssertEqual(code([[0, 0], [1, .infinity]]), "non_finite")
        XCTAssertEqual(code([[1, 0], [0, 1]]), "unsorted_x")
        XCTAssertEqual(code([[1, 0], [1, 1]]), "zero_x_range")
        XCTAssertEqual(code([[0, 0], [1, 1e300]]), "encoding_overflow")
        XCTAssertNil(code([[0, 0], [1, 1]]))
    }

    func testRulesAreCheckedInTheContractsOrder() {
        XCTAssertThrowsError(try TrendSplitEncoder.encode(points: (0..<101).map { _ in [Double.nan, 0] })) {
            XCTAssertEqual(($0 as? TrendSplitError)?.code, "too_many_points")
        }
        XCTAssertThrowsError(try TrendSplitEncoder.encode(points: [[1, .nan], [0, 0]])) {
            XCTAssertEqual(($0 as? TrendSplitError)?.code, "non_finite")
        }
    }

    /// Too many points is decided by the count alone, before any point is read: even points that are
    /// not pairs, or x and y of different lengths, are `too_many_points` past 100 (as in Python).
    func testTooManyPointsComesBeforeAnyPointIsRead() {
        func code(_ call: () throws -> [Float]) -> String? {
            do { _ = try call(); return nil }
            catch let error as TrendSplitError { return error.code }
            catch { return "unexpected" }
        }
        XCTAssertEqual(code { try TrendSplitEncoder.encode(points: Array(repeating: [0, 1, 2], count: 101)) },
                       "too_many_points")
        XCTAssertEqual(code { try TrendSplitEncoder.encode(points: Array(repeating: [], count: 1_000_000)) },
                       "too_many_points")
        XCTAssertEqual(code { try TrendSplitEncoder.encode(x: Array(repeating: 0, count: 101), y: [0]) },
                       "too_many_points")
        XCTAssertEqual(code { try TrendSplitEncoder.encode(x: [0], y: Array(repeating: .nan, count: 101)) },
                       "too_many_points")
        XCTAssertEqual(code { try TrendSplitEncoder.encode(Array(repeating: (0.0, 0.0), count: 101)) },
                       "too_many_points")
        XCTAssertEqual(code { try TrendSplitEncoder.encode(points: Array(repeating: [0, 1, 2], count: 100)) },
                       "bad_point")
    }

    func testTuplesArraysAndPairsAgree() throws {
        let pairs: [(Double, Double)] = [(0, 1), (2, 5), (3, 4)]
        let a = try TrendSplitEncoder.encode(pairs)
        let b = try TrendSplitEncoder.encode(x: [0, 2, 3], y: [1, 5, 4])
        let c = try TrendSplitEncoder.encode(points: [[0, 1], [2, 5], [3, 4]])
        XCTAssertEqual(a, b)
        XCTAssertEqual(b, c)
        XCTAssertEqual(a[0], -0.5)
        XCTAssertEqual(a[2], 0.5)
    }

    func testMismatchedChannelsAreABadPoint() {
        XCTAssertThrowsError(try TrendSplitEncoder.encode(x: [0, 1, 2], y: [0, 1])) {
            XCTAssertEqual(($0 as? TrendSplitError)?.code, "bad_point")
        }
    }

    func testNegativeZeroNeverReachesTheOutput() throws {
        let out = try TrendSplitEncoder.encode(points: [[-0.0, -0.0], [1, -0.0]])
        XCTAssertTrue(out.allSatisfy { $0 != 0 || $0.sign == .plus })
    }

    func testDecoderReadsOnlyPositionsBeforeTheLastPoint() throws {
        var p = [Float](repeating: 0, count: 100)
        p[0] = 0.9; p[3] = 0.5; p[5] = 0.51; p[6] = 0.99; p[9] = 0.99
        XCTAssertEqual(try TrendSplitDecoder.splits(p, count: 7), [0, 5])
        XCTAssertEqual(try TrendSplitDecoder.splits(p, count: 10, threshold: 0.95), [6])
        XCTAssertThrowsError(try TrendSplitDecoder.splits([0.1], count: 2))
    }

    func testErrorDescriptionsNameTheRule() {
        XCTAssertEqual("\(TrendSplitError.tooManyPoints(count: 150, limit: 100))",
                       "too_many_points: at most 100 points fit the model, got 150")
    }
}
