#if canImport(CoreML)
import CoreML
import Foundation
import TrendSplitCoreML

/// Records a real device's numbers: every case of a golden fixture through the compiled model
/// on the chosen compute units, written as a results file the harness compares on Linux.
///
///     let url = try CoreMLRecorder.record(
///         fixture: Bundle.main.url(forResource: "model_trendsplit", withExtension: "json")!,
///         compiledModel: Bundle.main.url(forResource: "trendsplit", withExtension: "mlmodelc")!,
///         computeUnits: .cpuAndNeuralEngine,
///         to: FileManager.default.temporaryDirectory.appendingPathComponent("results.json"))
public enum CoreMLRecorder {
    /// `model` and `precision` come from the model's own metadata (the harness's export writes
    /// them); a model of another name than the fixture's is refused.
    @discardableResult
    public static func record(fixture fixtureURL: URL, compiledModel modelURL: URL, computeUnits: MLComputeUnits,
                              to output: URL, extra: [String: String] = [:]) throws -> ResultsFile {
        let fixture = try Fixture.read(fixtureURL)
        // The weights this run loads, measured: the harness checks them against its export's, so a
        // model of other weights under the fixture's name is refused, not compared.
        let loadedWeights = try ModelWeights.sha256(model: modelURL)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits
        let metadata: [String: String]
        do {
            let loaded = try MLModel(contentsOf: modelURL, configuration: configuration)
            metadata = loaded.modelDescription.metadata[MLModelMetadataKey.creatorDefinedKey] as? [String: String] ?? [:]
        } catch {
            throw RecorderError.badModel(reason: "\(modelURL.lastPathComponent): \(error.localizedDescription)")
        }
        guard let name = metadata["model"], let precision = metadata["precision"] else {
            throw RecorderError.badModel(reason: "\(modelURL.lastPathComponent) has no model/precision metadata")
        }
        guard name == fixture.model else {
            throw RecorderError.modelMismatch(fixture: fixture.model, model: name)
        }
        let model = TrendSplitModel(compiledModelURL: modelURL, computeUnits: computeUnits)
        let start = Date()
        var outputs = [[String: [Float]]]()
        for c in fixture.cases {
            guard let input = c.inputs[TrendSplitModel.inputName] else {
                throw RecorderError.badFixture(reason: "case \(c.name) has no \(TrendSplitModel.inputName) input")
            }
            do {
                outputs.append([TrendSplitModel.outputName: try model.probabilities(encoded: input.values)])
            } catch {
                throw RecorderError.predictionFailed(case: c.name, reason: "\(error)")
            }
        }
        let results = try ResultsFile.recording(
            fixture: fixture, precision: precision, option: label(computeUnits), loadedWeightsSHA256: loadedWeights,
            outputs: outputs,
            seconds: Date().timeIntervalSince(start), provenance: .current(extra: extra))
        try results.write(to: output)
        return results
    }

    /// The harness's name for a compute-unit setting (`--compute-units`).
    public static func label(_ units: MLComputeUnits) -> String {
        if #available(iOS 16.0, macOS 13.0, *), units == .cpuAndNeuralEngine {
            return "CPU_AND_NE"
        }
        switch units {
        case .cpuOnly: return "CPU_ONLY"
        case .cpuAndGPU: return "CPU_AND_GPU"
        case .all: return "ALL"
        default: return "UNKNOWN"
        }
    }
}
#endif
