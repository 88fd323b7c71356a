import Foundation
import XCTest
@testable import TrendSplitWire
import TrendSplitCore

/// The wire protocol carries the encoding version; a request without one is v1, as before v2.
final class EncodeServerVersionTests: XCTestCase {
    let server = EncodeServer()

    func reply(_ line: String) -> [String: Any] {
        let bytes = server.handle(line: line) { _ in nil }
        let end = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        return (try? JSONSerialization.jsonObject(with: Data(bytes[..<end]))) as? [String: Any] ?? [:]
    }

    func testNoVersionIsV1AndVersion2AddsTheStepChannels() throws {
        let plain = reply("{\"points\":[[0,1],[2,5],[3,4]]}")["bits"] as? [Int]
        let v1 = reply("{\"version\":1,\"points\":[[0,1],[2,5],[3,4]]}")["bits"] as? [Int]
        let v2 = reply("{\"version\":2,\"points\":[[0,1],[2,5],[3,4]]}")["bits"] as? [Int]
        XCTAssertEqual(plain, v1)
        XCTAssertEqual(v2?.count, 400)
        let expected = try TrendSplitEncoder.encode(points: [[0, 1], [2, 5], [3, 4]], version: 2)
        XCTAssertEqual(v2, expected.map { Int($0.bitPattern) })
        XCTAssertEqual(Array(v2!.prefix(200)), v1)
    }

    func testCodesListsTheVersions() {
        let r = reply("{\"op\":\"codes\"}")
        XCTAssertEqual(r["versions"] as? [Int], [1, 2, 3, 4])
        XCTAssertEqual(r["version"] as? Int, 1)
    }

    func testAnUnknownVersionIsNamed() {
        for line in ["{\"version\":5,\"points\":[[0,1],[1,2]]}", "{\"version\":0,\"x\":[],\"y\":[]}",
                     "{\"op\":\"batch\",\"count\":1,\"width\":2,\"version\":7}"] {
            let r = reply(line)
            XCTAssertEqual(r["ok"] as? Bool, false, line)
            XCTAssertEqual(r["code"] as? String, "unsupported_version", line)
        }
        XCTAssertEqual(reply("{\"version\":\"2\",\"points\":[[0,1],[1,2]]}")["code"] as? String, "bad_request")
    }

    func testV2BatchesCarryFourChannels() {
        var payload = [UInt8]()
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { payload += $0 } }
        for n: Int32 in [3, 1] { append(n.littleEndian) }
        for v in [0.0, 1.0, 2.0, 5.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0] { append(v.bitPattern.littleEndian) }
        var out = [UInt8]()
        server.serve(BoundedReader(bytes: Array("{\"op\":\"batch\",\"count\":2,\"width\":3,\"version\":2}\n".utf8) + payload,
                                   chunk: 1 << 16)) { out += $0 }
        let header = out.firstIndex(of: UInt8(ascii: "\n"))!
        let head = (try? JSONSerialization.jsonObject(with: Data(out[..<header]))) as? [String: Any] ?? [:]
        XCTAssertEqual(head["channels"] as? Int, 4)
        XCTAssertEqual(head["version"] as? Int, 2)
        let body = Array(out[(header + 1)...])
        XCTAssertEqual(body.count, 2 + 2 * 400 * 4)
        XCTAssertEqual(Array(body.prefix(2)), [0, 2])  // encoded; too_few_points
        let words = (0..<400).map { j in
            body[(2 + 4 * j)..<(6 + 4 * j)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        }
        let expected = try? TrendSplitEncoder.encode(points: [[0, 1], [2, 5], [3, 4]], version: 2)
        XCTAssertEqual(words, expected?.map(\.bitPattern))
    }
}
