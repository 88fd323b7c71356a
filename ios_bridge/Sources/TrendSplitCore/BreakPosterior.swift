/// The probability of a break after each reading under the generator's own model, habits unknown:
/// bit for bit as `trendsplit/posterior.py` (read its docstring for the model).
///
/// Every operation is the Python module's, in its order: prefix sums, the segments' closed-form
/// likelihoods at each base rate of the grid, a forward-backward pass over segment boundaries for
/// each habits row, and sums over the rows, every exp and log `PortableMath`'s.
public enum BreakPosterior {
    // The generator's constants (trendsplit/data.py) and the prior's range (`data.Mixture`).
    static let firstOffsetVar = 25.0  // 5^2
    static let offsetVar = 4.0  // 2^2
    static let segmentRateVar = 2.25  // 1.5^2
    static let baseRateSD = 6.0
    static let stopDays = (1.0, 3.0)
    static let defaultHabits = (noise: 1.0, breakRate: 1.0 / 15.0, sameDayShare: 0.6, stopShare: 0.5,
                                sameDayGap: 0.25, multiDayGap: 1.5)
    static let defaultShare = 0.5
    static let noiseRange = (0.3, 5.0), rateRange = (1.0 / 50.0, 1.0 / 5.0)
    static let sameDayGapRange = (1.0 / 48.0, 0.5), multiDayGapRange = (0.75, 4.0)
    static let noiseCells = 4, rateCells = 3, gapCells = 8
    /// -30 ... 30 s/day in steps of 3.
    static let baseRates: [Double] = (0...20).map { -30.0 + Double($0) * 3.0 }
    static let log2Pi = PortableMath.log(2.0 * Double.pi)

    /// Midpoints in log space of k equal log-width cells over `bounds`.
    static func cells(_ bounds: (Double, Double), _ k: Int) -> [Double] {
        let lo = PortableMath.log(bounds.0), hi = PortableMath.log(bounds.1)
        let edges = (0...k).map { i in lo + (hi - lo) * Double(i) / Double(k) }
        return (0..<k).map { i in PortableMath.exp((edges[i] + edges[i + 1]) / 2.0) }
    }

    struct Gaps {
        let plain: [Double], broken: [Double]  // log densities of each gap without and with a break
    }

    static func exponential(_ g: Double, _ means: [Double]) -> Double {
        var total = 0.0
        for mu in means { total = total + PortableMath.exp(-g / mu) / mu }
        return total / Double(means.count)
    }

    static func stopped(_ g: Double, _ means: [Double]) -> Double {
        let (low, high) = stopDays
        var total = 0.0
        for mu in means {
            let upper = PortableMath.exp(-max(g - high, 0.0) / mu)
            let lower = PortableMath.exp(-(g - low) / mu)
            total = total + (g > low ? (upper - lower) / (high - low) : 0.0)
        }
        return total / Double(means.count)
    }

    /// Gap log densities under the default habits (range: false) or averaged over the prior's range.
    static func gaps(_ g: [Double], range: Bool) -> Gaps {
        let same: Double, stop: Double, sameMeans: [Double], multiMeans: [Double]
        if range {
            (same, stop) = (0.5, 0.5)
            sameMeans = cells(sameDayGapRange, gapCells)
            multiMeans = cells(multiDayGapRange, gapCells)
        } else {
            (same, stop) = (defaultHabits.sameDayShare, defaultHabits.stopShare)
            sameMeans = [defaultHabits.sameDayGap]
            multiMeans = [defaultHabits.multiDayGap]
        }
        var plain = [Double](), broken = [Double]()
        for v in g {
            let p = same * exponential(v, sameMeans) + (1.0 - same) * exponential(v, multiMeans)
            let idle = same * stopped(v, sameMeans) + (1.0 - same) * stopped(v, multiMeans)
            plain.append(PortableMath.log(p))
            broken.append(PortableMath.log((1.0 - stop) * p + stop * idle))
        }
        return Gaps(plain: plain, broken: broken)
    }

    struct Row {
        let noise: Double, rate: Double, range: Bool, share: Double
    }

    static let rows: [Row] = {
        var out = [Row(noise: defaultHabits.noise, rate: defaultHabits.breakRate, range: false, share: defaultShare)]
        let share = (1.0 - defaultShare) / Double(noiseCells * rateCells)
        for noise in cells(noiseRange, noiseCells) {
            for rate in cells(rateRange, rateCells) { out.append(Row(noise: noise, rate: rate, range: true, share: share)) }
        }
        return out
    }()

    /// ll[b][j][k], flattened as (b * (n+1) + j) * (n+1) + k: readings j..<k as one segment at base rate b.
    static func segmentLogs(_ t: [Double], _ y: [Double], variance: Double) -> [Double] {
        let n = t.count, w = n + 1, grid = baseRates.count
        func prefix(_ v: (Int) -> Double) -> [Double] {
            var out = [0.0]
            for i in 0..<n { out.append(out[i] + v(i)) }
            return out
        }
        let t1 = prefix { t[$0] }, t2 = prefix { t[$0] * t[$0] }, y1s = prefix { y[$0] }
        let y2s = prefix { y[$0] * y[$0] }, yts = prefix { y[$0] * t[$0] }
        var ll = [Double](repeating: -.infinity, count: grid * w * w)
        let logVariance = PortableMath.log(variance)
        for j in 0..<n {
            let tj = t[j]
            let ov = j == 0 ? firstOffsetVar : offsetVar
            let logPrior = PortableMath.log(ov * segmentRateVar)
            for k in (j + 1)...n {
                let m = Double(k - j)
                let s1 = (t1[k] - t1[j]) - m * tj
                let s2 = (t2[k] - t2[j]) - 2.0 * tj * (t1[k] - t1[j]) + m * tj * tj
                let y1 = y1s[k] - y1s[j], y2 = y2s[k] - y2s[j]
                let yd = (yts[k] - yts[j]) - tj * y1
                let a11 = 1.0 / ov + m / variance
                let a12 = s1 / variance
                let a22 = 1.0 / segmentRateVar + s2 / variance
                let det = a11 * a22 - a12 * a12
                let logdet = m * logVariance + logPrior + PortableMath.log(det)
                for (bi, b) in baseRates.enumerated() {
                    let r1 = y1 - b * s1, rd = yd - b * s2, r2 = y2 - 2.0 * b * yd + b * b * s2
                    let u1 = r1 / variance, u2 = rd / variance
                    let quad = r2 / variance - (a22 * u1 * u1 - 2.0 * a12 * u1 * u2 + a11 * u2 * u2) / det
                    ll[(bi * w + j) * w + k] = -0.5 * (quad + logdet + m * log2Pi)
                }
            }
        }
        return ll
    }

    /// P(break after reading i) for i in 0 ..< n-1; points are (days, seconds) in time order.
    public static func probabilities(x: [Double], y: [Double]) -> [Double] {
        logProbabilities(x: x, y: y).map { min(PortableMath.exp($0), 1.0) }
    }

    /// Encoding v4's channel: the log-odds clamped to +-oddsLimit; 0 for logs whose offsets pass maxOffset
    /// seconds or whose span passes maxSpan days (no watch gives them) and where the log-odds are not a number.
    public static let oddsLimit = 16.0
    public static let maxOffset = 1e5
    public static let maxSpan = 1000.0

    public static func logOdds(x: [Double], y: [Double]) -> [Double] {
        let n = x.count
        guard n >= 2 else { return [] }
        var top = 0.0
        for v in y where abs(v) > top { top = abs(v) }
        guard top <= maxOffset, x[n - 1] - x[0] <= maxSpan else { return [Double](repeating: 0, count: n - 1) }
        return logProbabilities(x: x, y: y).map { logP in
            let odds = logP - PortableMath.log(1.0 - min(PortableMath.exp(logP), 1.0))
            return odds.isNaN ? 0 : min(max(odds, -oddsLimit), oddsLimit)
        }
    }

    /// log P(break after reading i), i in 0 ..< n-1.
    static func logProbabilities(x: [Double], y: [Double]) -> [Double] {
        let n = x.count
        guard n >= 2 else { return [] }
        let w = n + 1, grid = baseRates.count
        let t = x.map { $0 - x[0] }
        let g = (0..<(n - 1)).map { t[$0 + 1] - t[$0] }
        var basePrior = baseRates.map { b -> Double in let q = b / baseRateSD; return -0.5 * (q * q) }
        let norm = PortableMath.logSumExp(basePrior)
        basePrior = basePrior.map { $0 - norm }
        var noises = [Double](), tables = [[Double]]()  // per noise: ll[b][j][k]
        let gapLogs = [false: gaps(g, range: false), true: gaps(g, range: true)]
        let h = rows.count * grid
        var noiseOf = [Int](), insides = [[Double]]()  // per row: the gaps' terms of readings j+1 ..< k continuing
        var starts = [Double](repeating: 0, count: h * w)
        var prior = [Double](repeating: 0, count: h)
        for (ri, row) in rows.enumerated() {
            if !noises.contains(row.noise) {
                noises.append(row.noise)
                tables.append(segmentLogs(t, y, variance: row.noise * row.noise))
            }
            noiseOf.append(noises.firstIndex(of: row.noise)!)
            let gl = gapLogs[row.range]!
            let stay = [0.0] + gl.plain.map { PortableMath.log(1.0 - row.rate) + $0 }
            let start = [0.0] + gl.broken.map { PortableMath.log(row.rate) + $0 } + [0.0]
            var stays = [0.0]
            for i in 0..<n { stays.append(stays[i] + stay[i]) }
            var inside = [Double](repeating: -.infinity, count: w * w)
            for j in 0..<n {
                for k in (j + 1)...n { inside[j * w + k] = stays[min(k, n)] - stays[min(j + 1, n)] }
            }
            insides.append(inside)
            let logShare = PortableMath.log(row.share)
            for bi in 0..<grid {
                let hi = ri * grid + bi
                for b in 0..<w { starts[hi * w + b] = start[b] }
                prior[hi] = logShare + basePrior[bi]
            }
        }
        var forward = [Double](repeating: -.infinity, count: h * w)
        var backward = [Double](repeating: -.infinity, count: h * w)
        var terms = [Double](repeating: 0, count: w)
        for (ri, _) in rows.enumerated() {
            tables[noiseOf[ri]].withUnsafeBufferPointer { ll in
                insides[ri].withUnsafeBufferPointer { inside in
                    terms.withUnsafeMutableBufferPointer { terms in
                        for bi in 0..<grid {
                            let base = (ri * grid + bi) * w, table = bi * w * w
                            forward[base] = 0
                            for k in 1...n {  // segments j -> k, every j before k
                                for j in 0..<k {
                                    let segment = ll[table + j * w + k] + inside[j * w + k]
                                    terms[j] = forward[base + j] + starts[base + j] + segment
                                }
                                forward[base + k] = PortableMath.logSumExp(UnsafeBufferPointer(terms), count: k)
                            }
                            backward[base + n] = 0
                            for j in stride(from: n - 1, through: 0, by: -1) {  // segments j -> k, every k after j
                                for k in (j + 1)...n {
                                    let segment = ll[table + j * w + k] + inside[j * w + k]
                                    terms[k - j - 1] = segment + starts[base + k] + backward[base + k]
                                }
                                backward[base + j] = PortableMath.logSumExp(UnsafeBufferPointer(terms), count: n - j)
                            }
                        }
                    }
                }
            }
        }
        let evidence = PortableMath.logSumExp((0..<h).map { prior[$0] + backward[$0 * w] })
        return (1..<n).map { b in
            let joint = PortableMath.logSumExp((0..<h).map { hi in
                prior[hi] + forward[hi * w + b] + starts[hi * w + b] + backward[hi * w + b]
            })
            return joint - evidence
        }
    }
}
