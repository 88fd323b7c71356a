/// Every way recording can fail, one case per cause; `description` is one line naming it.
public enum RecorderError: Error, Equatable, CustomStringConvertible {
    /// The fixture file cannot be read, or is not a model fixture this recorder understands.
    case badFixture(reason: String)
    /// The model being recorded is not the one the fixture was made for.
    case modelMismatch(fixture: String, model: String)
    /// The outputs handed to the writer do not match the fixture's cases.
    case badOutputs(reason: String)
    /// The model cannot be loaded, or does not say what it is (its `model`/`precision` metadata).
    case badModel(reason: String)
    /// The model failed on a fixture case.
    case predictionFailed(case: String, reason: String)
    /// The results file could not be written.
    case writeFailed(reason: String)

    public var description: String {
        switch self {
        case .badFixture(let reason): return "bad fixture: \(reason)"
        case .modelMismatch(let fixture, let model):
            return "the fixture is for model \(fixture), the model recorded is \(model)"
        case .badOutputs(let reason): return "bad outputs: \(reason)"
        case .badModel(let reason): return "bad model: \(reason)"
        case .predictionFailed(let name, let reason): return "prediction failed on case \(name): \(reason)"
        case .writeFailed(let reason): return "cannot write the results file: \(reason)"
        }
    }
}
