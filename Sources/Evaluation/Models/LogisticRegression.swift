#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Multinomial logistic regression with an L2 penalty, fitted with L-BFGS: the model scikit-learn's
/// `LogisticRegression(C:, max_iter:)` fits (the intercept is not penalised), used by MTEB's
/// classification tasks.
public struct LogisticRegression: Sendable {
    /// The class labels, sorted (as scikit-learn orders `classes_`).
    public private(set) var classes: [String] = []
    /// Weights, `classes × dimensions`, row-major.
    public private(set) var coefficients: [Double] = []
    /// One intercept per class.
    public private(set) var intercepts: [Double] = []
    /// Feature dimensions.
    public private(set) var dimensions = 0
    /// Inverse regularisation strength.
    public let inverseRegularization: Double
    /// L-BFGS iteration limit (MTEB: 100).
    public let maxIterations: Int

    /// A model to fit.
    public init(inverseRegularization: Double = 1, maxIterations: Int = 100) {
        self.inverseRegularization = inverseRegularization
        self.maxIterations = maxIterations
    }

    /// Fits the model; `features` are rows of equal length.
    public mutating func fit(features: [[Double]], labels: [String]) throws {
        guard !features.isEmpty else { throw EvaluationError.invalidValue(what: "training set", value: "empty") }
        guard features.count == labels.count else {
            throw EvaluationError.lengthMismatch(what: "training labels", expected: features.count, actual: labels.count)
        }
        classes = Array(Set(labels)).sorted()
        dimensions = features[0].count
        guard features.allSatisfy({ $0.count == dimensions }) else {
            throw EvaluationError.invalidValue(what: "training features", value: "rows of different lengths")
        }
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let targets = labels.map { classIndex[$0]! }
        let k = classes.count, d = dimensions, n = Double(features.count)
        let penalty = 1 / (inverseRegularization * n)

        // Objective scaled by 1/n (same minimiser as scikit-learn's): mean cross-entropy + ‖W‖²/(2Cn).
        func objective(_ theta: [Double]) -> (Double, [Double]) {
            var gradient = [Double](repeating: 0, count: theta.count)
            var loss = 0.0
            var logits = [Double](repeating: 0, count: k)
            for (row, target) in zip(features, targets) {
                for c in 0..<k {
                    var z = theta[k * d + c]
                    let base = c * d
                    for j in 0..<d { z += theta[base + j] * row[j] }
                    logits[c] = z
                }
                let maximum = logits.max()!
                var sum = 0.0
                for c in 0..<k { logits[c] = exp(logits[c] - maximum); sum += logits[c] }
                loss -= log(logits[target] / sum)
                for c in 0..<k {
                    let residual = (logits[c] / sum - (c == target ? 1 : 0)) / n
                    let base = c * d
                    for j in 0..<d { gradient[base + j] += residual * row[j] }
                    gradient[k * d + c] += residual
                }
            }
            loss /= n
            for i in 0..<(k * d) {
                loss += 0.5 * penalty * theta[i] * theta[i]
                gradient[i] += penalty * theta[i]
            }
            return (loss, gradient)
        }
        let theta = LBFGS.minimize(objective, start: [Double](repeating: 0, count: k * d + k), maxIterations: maxIterations)
        coefficients = Array(theta[0..<(k * d)])
        intercepts = Array(theta[(k * d)...])
    }

    /// Class probabilities per row, in `classes` order.
    public func probabilities(_ features: [[Double]]) -> [[Double]] {
        let k = classes.count, d = dimensions
        return features.map { row in
            var logits = (0..<k).map { c in
                (0..<d).reduce(intercepts[c]) { $0 + coefficients[c * d + $1] * row[$1] }
            }
            let maximum = logits.max() ?? 0
            logits = logits.map { exp($0 - maximum) }
            let sum = logits.reduce(0, +)
            return logits.map { $0 / sum }
        }
    }

    /// The most probable class of each row (the first class on a tie, as numpy's argmax).
    public func predict(_ features: [[Double]]) -> [String] {
        probabilities(features).map { p in classes[p.indices.max { p[$0] < p[$1] || (p[$0] == p[$1] && $0 > $1) }!] }
    }
}

/// Limited-memory BFGS with a backtracking (Armijo) line search.
enum LBFGS {
    static func minimize(
        _ f: ([Double]) -> (Double, [Double]), start: [Double], maxIterations: Int, memory: Int = 10
    ) -> [Double] {
        var x = start
        var (value, gradient) = f(x)
        var steps: [[Double]] = [], changes: [[Double]] = []
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        for _ in 0..<maxIterations {
            if gradient.map(abs).max() ?? 0 < 1e-10 { break }
            // Two-loop recursion: direction = −H·g.
            var q = gradient
            var alphas: [Double] = []
            for (s, y) in zip(steps, changes).reversed() {
                let alpha = dot(s, q) / dot(y, s)
                alphas.append(alpha)
                for i in q.indices { q[i] -= alpha * y[i] }
            }
            if let s = steps.last, let y = changes.last {
                let scale = dot(s, y) / dot(y, y)
                for i in q.indices { q[i] *= scale }
            }
            for ((s, y), alpha) in zip(zip(steps, changes), alphas.reversed()) {
                let beta = dot(y, q) / dot(y, s)
                for i in q.indices { q[i] += s[i] * (alpha - beta) }
            }
            var direction = q.map { -$0 }
            var slope = dot(direction, gradient)
            if slope >= 0 {  // not a descent direction: restart from steepest descent
                direction = gradient.map { -$0 }; slope = dot(direction, gradient)
                steps.removeAll(); changes.removeAll()
            }
            var stepSize = 1.0
            var candidate = x, candidateValue = value, candidateGradient = gradient
            var accepted = false
            for _ in 0..<60 {
                candidate = zip(x, direction).map { $0 + stepSize * $1 }
                (candidateValue, candidateGradient) = f(candidate)
                if candidateValue <= value + 1e-4 * stepSize * slope { accepted = true; break }
                stepSize *= 0.5
            }
            guard accepted else { break }
            let s = zip(candidate, x).map { $0 - $1 }
            let y = zip(candidateGradient, gradient).map { $0 - $1 }
            if dot(s, y) > 1e-16 {
                steps.append(s); changes.append(y)
                if steps.count > memory { steps.removeFirst(); changes.removeFirst() }
            }
            let improvement = value - candidateValue
            x = candidate; value = candidateValue; gradient = candidateGradient
            if improvement <= 1e-16 * max(1, abs(value)) { break }
        }
        return x
    }
}
