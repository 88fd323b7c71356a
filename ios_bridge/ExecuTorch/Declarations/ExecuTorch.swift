// Declarations only, never shipped: the few names of ExecuTorch's Swift API (its `ExecuTorch` module, 1.x docs) that
// ExecuTorchRecorder.swift uses, so a test type-checks the sketch against them and TrendSplitRecorder here.
public protocol ValueConvertible {}
public final class Value {
    public func tensor<T>() throws -> Tensor<T> { fatalError() }
}
public final class Tensor<T>: ValueConvertible {
    public init(_ scalars: [T], shape: [Int]) {}
    public func scalars() -> [T] { [] }
}
public final class Module {
    public init(filePath: String) {}
    public func load(_ method: String) throws {}
    public func forward(_ inputs: [ValueConvertible]) throws -> [Value] { [] }
}
