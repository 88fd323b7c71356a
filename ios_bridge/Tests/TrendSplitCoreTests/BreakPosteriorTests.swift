import XCTest
@testable import TrendSplitCore

/// The break posterior and its exp and log reproduce Python's bit for bit (`fixtures/posterior_cases.json`).
final class BreakPosteriorTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let points: [[String]]
        let probabilities: [String]
    }

    func testPosteriorCasesMatchPythonBitForBit() throws {
        let cases = try Fixtures.load("posterior_cases.json", as: Case.self)
        XCTAssertGreaterThan(cases.count, 10)
        for c in cases {
            let points = c.points.map(Fixtures.doubles)
            let out = BreakPosterior.probabilities(x: points.map { $0[0] }, y: points.map { $0[1] })
            let expected = c.probabilities.map { Double($0)! }
            XCTAssertEqual(out.count, expected.count, c.name)
            XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), c.name)
        }
    }

    func testExpAndLogAreWithinTwoUlpsOfFoundations() {
        var x = -708.0
        while x <= 709.0 {
            let ours = PortableMath.exp(x), theirs = Foundation.exp(x)
            XCTAssertLessThanOrEqual(abs(ours - theirs), 2 * theirs.ulp, "exp(\(x))")
            let y = theirs  // positive, from the smallest normal's neighbourhood to the largest
            XCTAssertLessThanOrEqual(abs(PortableMath.log(y) - Foundation.log(y)), 2 * Foundation.log(y).ulp, "log(\(y))")
            x += 0.731
        }
        XCTAssertEqual(PortableMath.exp(-709.0), 0)
        XCTAssertEqual(PortableMath.log(0), -.infinity)
        XCTAssertTrue(PortableMath.log(-1).isNaN)
    }
}
