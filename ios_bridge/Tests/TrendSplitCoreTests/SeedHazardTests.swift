import XCTest
@testable import TrendSplitCore

/// The seed app's Swift module, ported as faithfully as a test can run it: points arrive as
/// Float32, all maths is Float32, and values are written into a [1, 2, 100] array with no
/// length check. Out-of-bounds writes are counted instead of performed (on a device they
/// corrupt memory or crash), and "callback([NSNull(), []])" is an empty answer with no error.
enum SeedPort {
    struct Result {
        var values = [Float](repeating: 0, count: 2 * TrendSplitEncoder.length)
        var outOfBoundsWrites = 0
        var silentlyEmpty = false
    }

    static func encode(_ points: [[Float32]]) -> Result {
        var result = Result()
        guard points.count >= 2 else {
            result.silentlyEmpty = true
            return result
        }
        let xs = points.map { $0[0] }, ys = points.map { $0[1] }
        let minX = xs.min()!, maxX = xs.max()!, minY = ys.min()!, maxY = ys.max()!
        let yShift = ((maxY - minY) / (maxX - minX)) / 2.0
        for (i, point) in points.enumerated() {
            let x = (point[0] - minX) / (maxX - minX) - 0.5
            let y = (point[1] - minY) / (maxX - minX) - yShift
            if i >= TrendSplitEncoder.length {
                result.outOfBoundsWrites += 2
                continue
            }
            result.values[i] = x
            result.values[TrendSplitEncoder.length + i] = y
        }
        return result
    }
}

/// One property per hazard of the seed's module, checked against both encoders: each holds
/// for `TrendSplitEncoder` in every encoding version and fails for the seed's code.
final class SeedHazardTests: XCTestCase {
    typealias Encoder = ([[Double]]) throws -> SeedPort.Result

    static func ours(version: Int) -> Encoder {
        { points in SeedPort.Result(values: try TrendSplitEncoder.encode(points: points, version: version)) }
    }
    static let seed: Encoder = { points in SeedPort.encode(points.map { $0.map(Float32.init) }) }

    /// More than 100 points: an error, never a write past the model's input.
    func rejectsTooManyPoints(_ encode: Encoder) -> Bool {
        let points = (0..<150).map { [Double($0), Double($0 % 5)] }
        do {
            _ = try encode(points)  // returned instead of refusing: the hazard
            return false
        } catch let error as TrendSplitError {
            return error == .tooManyPoints(count: 150, limit: 100)
        } catch { return false }
    }

    /// All x equal: an error, never a division by zero feeding NaN/inf to the model.
    func rejectsZeroXRange(_ encode: Encoder) -> Bool {
        do {
            _ = try encode([[5, 1], [5, 2], [5, 3]])
            return false
        } catch let error as TrendSplitError {
            return error.code == "zero_x_range"
        } catch { return false }
    }

    /// x in epoch seconds: the same bits as the Python encoder the model was trained with.
    func matchesPythonAtEpochSeconds(_ encode: Encoder, version: Int) throws -> Bool {
        let golden = try Fixtures.load(Fixtures.encodingFiles[version]!, as: Fixtures.EncodingCase.self)
            .first { $0.name == "epoch_seconds_30s_apart" }!
        let points = golden.points.map(Fixtures.doubles)
        let out = try encode(points).values
        let n = points.count, length = TrendSplitEncoder.length
        let channels = golden.channels!
        guard out.count == channels.count * length else { return false }
        return channels.enumerated().allSatisfy { k, bits in
            out[(k * length)..<(k * length + n)].map(\.bitPattern) == bits
        }
    }

    /// Fewer than 2 points: an error the app can show, not a silent empty answer.
    func rejectsTooFewPoints(_ encode: Encoder) -> Bool {
        do {
            _ = try encode([[1, 2]])
            return false
        } catch let error as TrendSplitError {
            return error == .tooFewPoints(count: 1)
        } catch { return false }
    }

    func testMoreThan100PointsIsAnErrorNotAnOutOfBoundsWrite() {
        for version in TrendSplitEncoder.versions {
            XCTAssertTrue(rejectsTooManyPoints(Self.ours(version: version)), "v\(version)")
        }
        XCTAssertFalse(rejectsTooManyPoints(Self.seed))
        XCTAssertEqual(SeedPort.encode((0..<150).map { [Float($0), 0] }).outOfBoundsWrites, 100)
    }

    func testEqualXIsAnErrorNotADivisionByZero() {
        for version in TrendSplitEncoder.versions {
            XCTAssertTrue(rejectsZeroXRange(Self.ours(version: version)), "v\(version)")
        }
        XCTAssertFalse(rejectsZeroXRange(Self.seed))
        XCTAssertFalse(SeedPort.encode([[5, 1], [5, 2]]).values[0].isFinite)
    }

    func testEpochSecondTimesEncodeAsInPython() throws {
        for version in TrendSplitEncoder.versions {
            XCTAssertTrue(try matchesPythonAtEpochSeconds(Self.ours(version: version), version: version), "v\(version)")
            XCTAssertFalse(try matchesPythonAtEpochSeconds(Self.seed, version: version), "v\(version)")
        }
        // Why: Float32 spaces epoch seconds 128 s apart, so readings 30 s apart collapse.
        XCTAssertEqual(Float32(1_700_000_000.0).ulp, 128)
        XCTAssertEqual(Float32(1_700_000_030.0), Float32(1_700_000_000.0))
    }

    func testFewerThanTwoPointsIsAnErrorNotASilentEmptyAnswer() {
        for version in TrendSplitEncoder.versions {
            XCTAssertTrue(rejectsTooFewPoints(Self.ours(version: version)), "v\(version)")
        }
        XCTAssertFalse(rejectsTooFewPoints(Self.seed))
    }
}
