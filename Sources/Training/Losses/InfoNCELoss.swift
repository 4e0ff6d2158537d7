import Foundation

/// The improved InfoNCE loss of the Qwen3 Embedding paper (arXiv 2506.05176, section 3), with hard
/// negatives, in-batch negatives and false-negative masking.
///
/// For a batch of N examples (query qᵢ, positive dᵢ⁺, hard negatives dᵢ,ₖ⁻), s(a, b) is the cosine
/// similarity of the L2-normalised final-norm last-token states and τ the ``temperature``:
///
///     Lᵢ = −log( e^{s(qᵢ,dᵢ⁺)/τ} / Zᵢ )
///     Zᵢ = e^{s(qᵢ,dᵢ⁺)/τ} + Σₖ m·e^{s(qᵢ,dᵢ,ₖ⁻)/τ}
///        + Σ_{j≠i} m·e^{s(qᵢ,qⱼ)/τ} + Σ_{j≠i} m·e^{s(dᵢ⁺,dⱼ)/τ} + Σ_{j≠i} m·e^{s(qᵢ,dⱼ)/τ}
///     L  = (1/N) Σᵢ Lᵢ
///
/// where dⱼ ranges over every other example's positive and hard negatives. Each term's mask m is 0 when
/// the term's similarity exceeds s(qᵢ,dᵢ⁺) + ``falseNegativeMargin`` or, for a term with a document
/// (hard negative, d–d, q–d), when that document's text equals dᵢ⁺'s text; q–q terms are masked by the
/// similarity rule only; otherwise m = 1. The masks are computed from the similarities and texts and carry
/// no gradient. ``includeQueryQuery`` = false drops the q–q terms, ``includeDocumentDocument`` = false the
/// d–d terms, ``includeInBatchNegatives`` = false every j ≠ i term (q–q, d–d and q–d).
///
/// Numerics: states are normalised as `torch.nn.functional.normalize` does (x / max(‖x‖, 1e-12)), and all
/// similarities, the log-sum-exp (with its maximum subtracted) and the gradients are computed in Double;
/// only the results are rounded to Float. The gradient of Lᵢ with respect to a term's scaled similarity
/// s/τ is its softmax weight within Zᵢ minus 1 for the positive; it flows through the cosine to both
/// normalised vectors and through the normalisation to the raw states, ∂L/∂x = (g − y(y·g)) / ‖x‖.
public struct InfoNCELoss: Sendable, Equatable {
    /// τ, the temperature dividing every similarity (`--temperature`, 0.05).
    public var temperature: Double
    /// The margin above s(qᵢ,dᵢ⁺) from which a term counts as a false negative and is masked
    /// (`--false-negative-margin`, 0.1).
    public var falseNegativeMargin: Double
    /// Whether the q–q terms are in Zᵢ (`--no-query-query` turns them off).
    public var includeQueryQuery: Bool
    /// Whether the d–d terms are in Zᵢ (`--no-document-document` turns them off).
    public var includeDocumentDocument: Bool
    /// Whether any term of another example (q–q, d–d, q–d) is in Zᵢ (`--no-in-batch-negatives` turns them off).
    public var includeInBatchNegatives: Bool

    /// A loss with the given settings (the paper's and ms-swift's defaults when omitted).
    public init(
        temperature: Double = 0.05,
        falseNegativeMargin: Double = 0.1,
        includeQueryQuery: Bool = true,
        includeDocumentDocument: Bool = true,
        includeInBatchNegatives: Bool = true
    ) {
        self.temperature = temperature
        self.falseNegativeMargin = falseNegativeMargin
        self.includeQueryQuery = includeQueryQuery
        self.includeDocumentDocument = includeDocumentDocument
        self.includeInBatchNegatives = includeInBatchNegatives
    }

    /// The loss of a batch and its gradients with respect to the raw (un-normalised) states.
    ///
    /// - Parameters:
    ///   - queries: `queries[i]`, the final-norm last-token state of qᵢ.
    ///   - documents: `documents[i]`, the states of [dᵢ⁺, dᵢ,₁⁻, dᵢ,₂⁻, …] (positive first). Examples may
    ///     have different numbers of hard negatives.
    ///   - documentTexts: the texts of those documents, same shape as `documents` (for the duplicate-text mask).
    /// - Precondition: at least one example, each with at least its positive; `documentTexts` shaped as
    ///   `documents`; every state of the same, non-zero length. (The trainer builds these; a mismatch is a bug.)
    public func evaluate(queries: [[Float]], documents: [[[Float]]], documentTexts: [[String]]) -> InfoNCEResult {
        let result = evaluate(
            doubleQueries: queries.map { $0.map(Double.init) },
            documents: documents.map { $0.map { $0.map(Double.init) } },
            documentTexts: documentTexts)
        return InfoNCEResult(
            loss: Float(result.loss),
            queryGradients: result.queryGradients.map { $0.map { Float($0) } },
            documentGradients: result.documentGradients.map { $0.map { $0.map { Float($0) } } },
            maskedTermCount: result.maskedTermCount)
    }

    /// The same computation on Double states with Double results: the Float API widens its inputs to this,
    /// and the finite-difference test differentiates it (a Float round trip would drown the differences).
    func evaluate(
        doubleQueries queries: [[Double]], documents: [[[Double]]], documentTexts: [[String]]
    ) -> (loss: Double, queryGradients: [[Double]], documentGradients: [[[Double]]], maskedTermCount: Int) {
        let count = queries.count
        precondition(count > 0, "InfoNCE needs at least one example")
        precondition(documents.count == count && documentTexts.count == count, "one document list per query")
        let dimension = queries[0].count
        precondition(dimension > 0, "empty states")
        for i in 0..<count {
            precondition(!documents[i].isEmpty, "example \(i) has no positive")
            precondition(documentTexts[i].count == documents[i].count, "example \(i): one text per document")
            precondition(queries[i].count == dimension && documents[i].allSatisfy { $0.count == dimension },
                         "example \(i): states of different sizes")
        }

        // Every vector gets one index: queries 0..<N, then the documents example by example.
        var offsets: [Int] = []
        var documentCount = 0
        for list in documents {
            offsets.append(count + documentCount)
            documentCount += list.count
        }
        var raw: [[Double]] = queries
        for list in documents { raw.append(contentsOf: list) }
        let norms = raw.map { dot($0, $0).squareRoot() }
        let normalised: [[Double]] = zip(raw, norms).map { vector, norm in
            let scale = 1 / max(norm, 1e-12)
            return vector.map { $0 * scale }
        }
        var normalisedGradients = [[Double]](repeating: [Double](repeating: 0, count: dimension), count: raw.count)

        /// A candidate term of Zᵢ: the two vectors whose cosine it is, and whether a document text can mask it.
        struct Term {
            var left: Int
            var right: Int
            var documentText: String?
        }

        var total = 0.0
        var masked = 0
        let inverseTemperature = 1 / temperature
        let batchWeight = 1 / Double(count)
        for i in 0..<count {
            let positiveIndex = offsets[i]
            let positiveText = documentTexts[i][0]
            var terms: [Term] = [Term(left: i, right: positiveIndex, documentText: nil)]
            for k in documents[i].indices.dropFirst() {
                terms.append(Term(left: i, right: offsets[i] + k, documentText: documentTexts[i][k]))
            }
            if includeInBatchNegatives {
                for j in 0..<count where j != i && includeQueryQuery {
                    terms.append(Term(left: i, right: j, documentText: nil))
                }
                for j in 0..<count where j != i && includeDocumentDocument {
                    for k in documents[j].indices {
                        terms.append(Term(left: positiveIndex, right: offsets[j] + k, documentText: documentTexts[j][k]))
                    }
                }
                for j in 0..<count where j != i {
                    for k in documents[j].indices {
                        terms.append(Term(left: i, right: offsets[j] + k, documentText: documentTexts[j][k]))
                    }
                }
            }

            let similarities = terms.map { dot(normalised[$0.left], normalised[$0.right]) }
            let threshold = similarities[0] + falseNegativeMargin
            // The positive (term 0) is always kept; a negative is kept unless it is a likely false negative.
            var kept: [Int] = [0]
            for t in terms.indices.dropFirst() {
                let isFalseNegative = similarities[t] > threshold || terms[t].documentText == positiveText
                if isFalseNegative { masked += 1 } else { kept.append(t) }
            }
            let logits = kept.map { similarities[$0] * inverseTemperature }
            let maximum = logits.max()!
            let exponentials = logits.map { Foundation.exp($0 - maximum) }
            let partition = exponentials.reduce(0, +)
            total += maximum + Foundation.log(partition) - logits[0]

            // ∂Lᵢ/∂(s/τ) = softmax − [positive]; the chain rule through s/τ adds 1/τ, the batch mean 1/N.
            for (position, t) in kept.enumerated() {
                let probability = exponentials[position] / partition
                let weight = (probability - (position == 0 ? 1 : 0)) * inverseTemperature * batchWeight
                let left = terms[t].left, right = terms[t].right
                for d in 0..<dimension {
                    normalisedGradients[left][d] += weight * normalised[right][d]
                    normalisedGradients[right][d] += weight * normalised[left][d]
                }
            }
        }

        // Through y = x / max(‖x‖, ε): ∂L/∂x = (g − y (y·g)) / ‖x‖, or g / ε where the norm is clamped.
        let rawGradients: [[Double]] = normalisedGradients.indices.map { index in
            let g = normalisedGradients[index]
            let norm = norms[index]
            guard norm > 1e-12 else { return g.map { $0 / 1e-12 } }
            let y = normalised[index]
            let projection = dot(y, g)
            return (0..<dimension).map { (g[$0] - y[$0] * projection) / norm }
        }
        var documentGradients: [[[Double]]] = []
        documentGradients.reserveCapacity(count)
        for i in 0..<count {
            documentGradients.append(Array(rawGradients[offsets[i]..<(offsets[i] + documents[i].count)]))
        }
        return (total / Double(count), Array(rawGradients[0..<count]), documentGradients, masked)
    }
}

/// The loss of one batch and its gradients with respect to the raw states given to ``InfoNCELoss/evaluate(queries:documents:documentTexts:)``.
public struct InfoNCEResult: Sendable, Equatable {
    /// The mean loss over the batch.
    public var loss: Float
    /// ∂loss/∂(raw state of qᵢ), shaped as the queries.
    public var queryGradients: [[Float]]
    /// ∂loss/∂(raw state of each document), shaped as the documents (positive first).
    public var documentGradients: [[[Float]]]
    /// How many negative terms the false-negative rules masked over the whole batch (for logs and tests).
    public var maskedTermCount: Int

    /// A result with the given values.
    public init(loss: Float, queryGradients: [[Float]], documentGradients: [[[Float]]], maskedTermCount: Int) {
        self.loss = loss
        self.queryGradients = queryGradients
        self.documentGradients = documentGradients
        self.maskedTermCount = maskedTermCount
    }
}

/// Dot product in Double.
private func dot(_ a: [Double], _ b: [Double]) -> Double {
    var sum = 0.0
    for index in a.indices { sum += a[index] * b[index] }
    return sum
}
