import Foundation

/// The reranker's training loss over the [no, yes] logits at the last position of the official reranker
/// prompt (`--reranker-loss`).
///
/// `logits[i][d]` are the `[no, yes]` logits of document d of example i, positive first. With n the no-
/// and y the yes-logit:
///
/// - ``pointwise``: every (query, document) pair is a binary classification: the cross-entropy of
///   softmax([n, y]) with target yes for the positive and no for each negative,
///   `ℓ = logsumexp(n, y) − (positive ? y : n)`; the loss is the mean over all pairs of the batch. This is
///   the same quantity the reranker's score (softmax of [n, y], yes column) reads.
/// - ``listwise``: per example, the softmax of the yes-logits over [positive, negatives…] and the
///   cross-entropy on the positive, `ℓᵢ = logsumexp_d(y_{i,d}) − y_{i,0}`; the loss is the mean over the
///   examples, and the no-logits get zero gradient.
///
/// Log-sum-exps subtract their maximum and everything is computed in Double; the gradient of a
/// cross-entropy with respect to its logits is softmax − one-hot(target), divided by the number of
/// terms the mean runs over.
public enum RerankerLoss: String, Sendable, CaseIterable {
    /// Binary cross-entropy of [no, yes] for every pair, mean over pairs.
    case pointwise
    /// Cross-entropy of the positive in the softmax over each example's yes-logits, mean over examples.
    case listwise

    /// The loss of a batch and its gradients, shaped as `logits`.
    ///
    /// - Parameter logits: `logits[i][d] = [no, yes]` for document d of example i (positive first).
    ///   Examples may have different numbers of documents.
    /// - Precondition: at least one example, each with at least one document, every entry exactly two logits.
    public func evaluate(logits: [[[Float]]]) -> (loss: Float, gradients: [[[Float]]]) {
        precondition(!logits.isEmpty, "reranker loss needs at least one example")
        for (i, example) in logits.enumerated() {
            precondition(!example.isEmpty, "example \(i) has no documents")
            precondition(example.allSatisfy { $0.count == 2 }, "example \(i): each document needs [no, yes] logits")
        }
        switch self {
        case .pointwise: return Self.pointwise(logits)
        case .listwise: return Self.listwise(logits)
        }
    }

    private static func pointwise(_ logits: [[[Float]]]) -> (loss: Float, gradients: [[[Float]]]) {
        let pairs = Double(logits.reduce(0) { $0 + $1.count })
        var total = 0.0
        let gradients: [[[Float]]] = logits.map { example in
            example.enumerated().map { document, pair in
                let no = Double(pair[0]), yes = Double(pair[1])
                let maximum = max(no, yes)
                let expNo = Foundation.exp(no - maximum), expYes = Foundation.exp(yes - maximum)
                let partition = expNo + expYes
                let target = document == 0 ? 1 : 0   // index of the correct class in [no, yes]
                total += maximum + Foundation.log(partition) - (target == 1 ? yes : no)
                let probabilityNo = expNo / partition, probabilityYes = expYes / partition
                return [
                    Float((probabilityNo - (target == 0 ? 1 : 0)) / pairs),
                    Float((probabilityYes - (target == 1 ? 1 : 0)) / pairs),
                ]
            }
        }
        return (Float(total / pairs), gradients)
    }

    private static func listwise(_ logits: [[[Float]]]) -> (loss: Float, gradients: [[[Float]]]) {
        let examples = Double(logits.count)
        var total = 0.0
        let gradients: [[[Float]]] = logits.map { example in
            let yes = example.map { Double($0[1]) }
            let maximum = yes.max()!
            let exponentials = yes.map { Foundation.exp($0 - maximum) }
            let partition = exponentials.reduce(0, +)
            total += maximum + Foundation.log(partition) - yes[0]
            return exponentials.indices.map { document in
                let probability = exponentials[document] / partition
                return [0, Float((probability - (document == 0 ? 1 : 0)) / examples)]
            }
        }
        return (Float(total / examples), gradients)
    }
}
