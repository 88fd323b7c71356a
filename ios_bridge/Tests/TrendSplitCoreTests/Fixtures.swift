import Foundation

/// The golden fixtures in the repository's `fixtures/` folder, written by
/// `python -m trendsplit fixtures regenerate` and shared with the Python tests.
enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    struct EncodingCase: Decodable {
        let name: String
        let points: [[String]]
        let x_bits: [UInt32]?
        let y_bits: [UInt32]?
        let error: String?
    }

    struct ModelCase: Decodable {
        let name: String
        let points: [[String]]
        let input_bits: [[UInt32]]
        let output_bits: [UInt32]
        let splits: [Int]
    }

    struct File<Case: Decodable>: Decodable {
        let kind: String
        let cases: [Case]
    }

    static func load<Case: Decodable>(_ name: String, as _: Case.Type) throws -> [Case] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return try JSONDecoder().decode(File<Case>.self, from: data).cases
    }

    /// C99 hex floats (`float.hex()` in Python), "nan", "inf", "-inf": exact binary64.
    static func doubles(_ point: [String]) -> [Double] {
        point.map { text in
            guard let value = Double(text) else { fatalError("not a float: \(text)") }
            return value
        }
    }
}
