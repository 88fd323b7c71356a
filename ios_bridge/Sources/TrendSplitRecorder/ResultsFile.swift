import Foundation

/// A results file in the harness's portable format (`harness/results.py`, format
/// `trendsplit-harness/results` version 1): outputs as dtype/shape/base64 of little-endian
/// float32, which inputs they came from (seed, count, sha256 of the feeds) and provenance.
/// `python -m harness compare` reads it beside results from torch, onnxruntime and the emulator.
public struct ResultsFile {
    public static let format = "trendsplit-harness/results"
    public static let version = 1

    public var model: String
    /// The weights the fixture was made with (the harness's `weights_sha256`): what the run claims to be.
    public var weightsSHA256: String
    /// The weights the run loaded, measured (`ModelWeights.sha256`): what the harness checks that claim by.
    public var loadedWeightsSHA256: String
    /// The backend label, `name@precision[option]`, e.g. `coreml@fp16[CPU_AND_NE]`.
    public var backend: String
    public var precision: String
    /// The compute units (or profile) in brackets: "" for none.
    public var option: String
    public var seed: Int?
    public var count: Int
    public var inputsSHA256: String
    public var status: String = "ran"
    public var reason: String = ""
    public var seconds: Double
    public var provenance: Provenance
    /// Output name -> every case's values, batch first (shape includes the cases).
    public var outputs: [String: Tensor]

    /// The file for `fixture`'s cases run through a backend: `outputs[k]` holds case k's outputs by name;
    /// `loadedWeightsSHA256` is `ModelWeights.sha256` of the model that produced them.
    public static func recording(fixture: Fixture, name: String = "coreml", precision: String, option: String,
                                 loadedWeightsSHA256: String, outputs: [[String: [Float]]], seconds: Double,
                                 provenance: Provenance = .current()) throws -> ResultsFile {
        guard loadedWeightsSHA256.count == 64, loadedWeightsSHA256.allSatisfy({ "0123456789abcdef".contains($0) }) else {
            throw RecorderError.badModel(reason: "loaded weights hash \(loadedWeightsSHA256.prefix(80)) is not 64 lowercase hex digits")
        }
        guard outputs.count == fixture.cases.count else {
            throw RecorderError.badOutputs(reason: "\(outputs.count) cases of outputs for \(fixture.cases.count) fixture cases")
        }
        var merged = [String: Tensor]()
        for name in outputs.first?.keys.sorted() ?? [] {
            let perCase = try outputs.enumerated().map { k, out -> [Float] in
                guard let values = out[name] else {
                    throw RecorderError.badOutputs(reason: "case \(fixture.cases[k].name) has no output \(name)")
                }
                return values
            }
            let width = perCase[0].count
            guard perCase.allSatisfy({ $0.count == width }) else {
                throw RecorderError.badOutputs(reason: "output \(name) has a different length in some case")
            }
            let shape = fixture.cases[0].outputs[name]?.shape ?? [width]
            guard shape.reduce(1, *) == width else {
                throw RecorderError.badOutputs(reason: "output \(name): \(width) values per case, the fixture's are \(shape)")
            }
            merged[name] = Tensor(shape: [outputs.count] + shape, values: perCase.flatMap { $0 })
        }
        let label = option.isEmpty ? "\(name)@\(precision)" : "\(name)@\(precision)[\(option)]"
        return ResultsFile(model: fixture.model, weightsSHA256: fixture.weightsSHA256,
                           loadedWeightsSHA256: loadedWeightsSHA256, backend: label,
                           precision: precision, option: option, seed: fixture.seed, count: fixture.cases.count,
                           inputsSHA256: fixture.inputsSHA256(), seconds: seconds, provenance: provenance,
                           outputs: merged)
    }

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try encoder.encode(Document(self))
    }

    /// Written whole or not at all (a temporary file beside it, renamed into place).
    public func write(to url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(),
                                                    withIntermediateDirectories: true)
            try jsonData().write(to: url, options: .atomic)
        } catch {
            throw RecorderError.writeFailed(reason: "\(url.path): \(error.localizedDescription)")
        }
    }

    /// The JSON layout, key for key as `harness.results.Results.to_dict`.
    struct Document: Encodable {
        struct Model: Encodable { let name: String; let weights_sha256: String; let loaded_weights_sha256: String }
        struct Backend: Encodable { let label: String; let precision: String; let option: String }
        struct Inputs: Encodable {
            let seed: Int?
            let count: Int
            let sha256: String

            func encode(to encoder: Encoder) throws {  // a missing seed is written as null, not left out
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(seed, forKey: .seed)
                try c.encode(count, forKey: .count)
                try c.encode(sha256, forKey: .sha256)
            }

            enum CodingKeys: String, CodingKey { case seed, count, sha256 }
        }
        struct Run: Encodable { let status: String; let reason: String; let seconds: Double }
        struct Array: Encodable { let dtype: String; let shape: [Int]; let data: String }

        let format = ResultsFile.format
        let version = ResultsFile.version
        let model: Model
        let backend: Backend
        let inputs: Inputs
        let run: Run
        let provenance: [String: String]
        let outputs: [String: Array]

        init(_ r: ResultsFile) {
            model = Model(name: r.model, weights_sha256: r.weightsSHA256, loaded_weights_sha256: r.loadedWeightsSHA256)
            backend = Backend(label: r.backend, precision: r.precision, option: r.option)
            inputs = Inputs(seed: r.seed, count: r.count, sha256: r.inputsSHA256)
            run = Run(status: r.status, reason: r.reason, seconds: r.seconds)
            var p = r.provenance.extra
            p["device"] = r.provenance.device
            p["os"] = r.provenance.os
            p["recorder"] = r.provenance.recorder
            p["created"] = r.provenance.created
            provenance = p
            outputs = r.outputs.mapValues { t in
                Array(dtype: "float32", shape: t.shape, data: Data(littleEndianBytes(t.bits)).base64EncodedString())
            }
        }
    }
}
