/// exp and log from IEEE-754 basic operations alone, bit for bit as `trendsplit/portable_math.py`.
///
/// The C library's and Apple's libm differ in their last bits, and numpy's differ by CPU; anything the
/// app must compute exactly as Python did (the break posterior) uses these: a power-of-two range
/// reduction, a fixed polynomial by Horner's rule in a fixed order, and an exact scaling by 2^k.
/// Swift does not fuse `a * b + c` into one rounding unless asked, so each step rounds as numpy's does.
public enum PortableMath {
    static let ln2Hi = 6.93147180369123816490e-01
    static let ln2Lo = 1.90821492927058770002e-10
    static let invLn2 = 1.44269504088896338700e00
    /// Below expLow the result would be subnormal: 0. Above expHigh: infinity.
    public static let expLow = -708.0
    public static let expHigh = 709.0
    static let sqrtHalf = 0.70710678118654752440
    /// 1 / k! for k = 13 ... 0 (each factorial exact in binary64).
    static let expTerms: [Double] = (0...13).reversed().map { k in
        1.0 / (0..<k).reduce(1.0) { f, i in f * Double(i + 1) }
    }
    /// 2 / (2k + 1) for k = 11 ... 1.
    static let logTerms: [Double] = (1...11).reversed().map { k in 2.0 / Double(2 * k + 1) }

    public static func exp(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        if x < expLow { return 0 }
        if x > expHigh { return .infinity }
        let k = (x * invLn2).rounded(.toNearestOrEven)
        let r = (x - k * ln2Hi) - k * ln2Lo
        var p = expTerms[0]
        for i in 1..<expTerms.count { p = p * r + expTerms[i] }
        return p * Double(sign: .plus, exponent: Int(k), significand: 1.0)  // 2^k normal, p * 2^k normal: exact
    }

    public static func log(_ x: Double) -> Double {
        if x == 0 { return -.infinity }
        if x == .infinity { return .infinity }
        guard x.isFinite, x > 0 else { return .nan }
        var m = x.significand / 2  // frexp: x = m 2^e, m in [0.5, 1), subnormals included
        var e = Double(Int(x.exponent) + 1)
        if m < sqrtHalf {
            m = m * 2
            e = e - 1
        }
        let f = m - 1.0
        let halfSquare = 0.5 * f * f
        let s = f / (2.0 + f)
        let z = s * s
        var r = logTerms[0]
        for i in 1..<logTerms.count { r = r * z + logTerms[i] }
        r = r * z
        return e * ln2Hi - ((halfSquare - (s * (halfSquare + r) + e * ln2Lo)) - f)
    }

    /// log(sum(exp(terms))), the terms summed in index order; -infinity when every term is.
    public static func logSumExp(_ terms: [Double]) -> Double {
        terms.withUnsafeBufferPointer { logSumExp($0, count: $0.count) }
    }

    /// The same over the first `count` terms of a buffer (the posterior's passes reuse one).
    static func logSumExp(_ terms: UnsafeBufferPointer<Double>, count: Int) -> Double {
        var top = -Double.infinity
        for i in 0..<count where terms[i] > top { top = terms[i] }
        let safe = top.isFinite ? top : 0
        var total = 0.0
        for i in 0..<count { total = total + exp(terms[i] - safe) }
        return safe + log(total)
    }
}
