import Foundation
import Testing
@testable import Training

/// The golden files of Scripts/make_loss_fixtures.py (torch 2.13 autograd, float32) and comparison helpers.
enum LossGoldens {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/training/losses")

    /// Decodes `name` (snake_case keys). Numbers are read as Double and rounded to Float by the callers:
    /// the script writes each float32 as its shortest decimal, which reads back exactly that way.
    static func load<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: data)
    }

    /// max |ours − reference| / max |reference| (the gradient measure).
    static func relativeDeviation(_ ours: [Float], _ reference: [Float]) -> Double {
        precondition(ours.count == reference.count, "sizes differ: \(ours.count) vs \(reference.count)")
        var deviation = 0.0, scale = 0.0
        for (a, b) in zip(ours, reference) {
            deviation = max(deviation, abs(Double(a) - Double(b)))
            scale = max(scale, abs(Double(b)))
        }
        return scale == 0 ? deviation : deviation / scale
    }

    /// max |ours − reference|.
    static func absoluteDeviation(_ ours: [Float], _ reference: [Float]) -> Double {
        precondition(ours.count == reference.count, "sizes differ: \(ours.count) vs \(reference.count)")
        return zip(ours, reference).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
    }
}

extension Array where Element == [Double] {
    /// The values rounded to Float, flattened.
    var flatFloats: [Float] { flatMap { $0.map { Float($0) } } }
}

extension Array where Element == [[Double]] {
    /// The values rounded to Float, flattened.
    var flatFloats: [Float] { flatMap { $0.flatFloats } }
}

/// infonce.json: one batch and the loss/gradients of each setting.
private struct InfoNCEGolden: Decodable {
    struct Case: Decodable {
        var temperature: Double
        var margin: Double
        var includeQueryQuery: Bool
        var includeDocumentDocument: Bool
        var includeInBatchNegatives: Bool
        var loss: Double
        var maskedTerms: Int
        var queryGradients: [[Double]]
        var documentGradients: [[[Double]]]

        var configuration: InfoNCELoss {
            InfoNCELoss(temperature: temperature, falseNegativeMargin: margin, includeQueryQuery: includeQueryQuery,
                        includeDocumentDocument: includeDocumentDocument, includeInBatchNegatives: includeInBatchNegatives)
        }
    }
    var queries: [[Double]]
    var documents: [[[Double]]]
    var documentTexts: [[String]]
    var cases: [Case]

    /// The states exactly as the script's float32 tensors.
    var floatQueries: [[Float]] { queries.map { $0.map { Float($0) } } }
    var floatDocuments: [[[Float]]] { documents.map { $0.map { $0.map { Float($0) } } } }
}

/// reranker.json: ragged [no, yes] logits and both losses.
private struct RerankerGolden: Decodable {
    struct Result: Decodable {
        var loss: Double
        var gradients: [[[Double]]]
    }
    var logits: [[[Double]]]
    var pointwise: Result
    var listwise: Result
}

@Suite("Training losses")
struct LossTests {
    @Test("InfoNCE equals torch autograd for every flag combination (loss 1e-5, gradients 1e-4 relative)")
    func infoNCEMatchesTorch() throws {
        let golden = try LossGoldens.load(InfoNCEGolden.self, "infonce.json")
        #expect(golden.cases.count == 10)
        // The batch is ragged (3, 2, 3, 2 hard negatives): unequal lists must work.
        #expect(Set(golden.documents.map(\.count)).count > 1)
        var worstLoss = 0.0, worstGradient = 0.0
        for item in golden.cases {
            let result = item.configuration.evaluate(
                queries: golden.floatQueries, documents: golden.floatDocuments, documentTexts: golden.documentTexts)
            let label = "τ \(item.temperature) margin \(item.margin) qq \(item.includeQueryQuery) dd \(item.includeDocumentDocument) in-batch \(item.includeInBatchNegatives)"
            let lossDeviation = abs(Double(result.loss) - item.loss) / max(1, abs(item.loss))
            #expect(lossDeviation <= 1e-5, "\(label): loss \(result.loss) vs torch \(item.loss)")
            #expect(result.maskedTermCount == item.maskedTerms, "\(label): masked terms")
            let ours = result.queryGradients.flatMap { $0 } + result.documentGradients.flatMap { $0.flatMap { $0 } }
            let reference = item.queryGradients.flatFloats + item.documentGradients.flatFloats
            let gradientDeviation = LossGoldens.relativeDeviation(ours, reference)
            #expect(gradientDeviation <= 1e-4, "\(label): gradients deviate by \(gradientDeviation) (relative)")
            worstLoss = max(worstLoss, lossDeviation)
            worstGradient = max(worstGradient, gradientDeviation)
        }
        print("InfoNCE vs torch: worst loss deviation \(worstLoss), worst gradient deviation \(worstGradient) (relative)")
        // Far better than the bounds: both sides are float32 roundings of the same function.
        #expect(worstGradient <= 1e-5)
    }

    @Test("The golden batch exercises each mask rule (similarity, text, both) and in-batch terms")
    func infoNCEGoldenCoversTheMasks() throws {
        let golden = try LossGoldens.load(InfoNCEGolden.self, "infonce.json")
        let byFlags = Dictionary(grouping: golden.cases.filter { $0.temperature == 0.05 }) {
            [$0.includeInBatchNegatives, $0.includeQueryQuery, $0.includeDocumentDocument]
        }
        let everything = try #require(byFlags[[true, true, true]]?.first)
        let hardNegativesOnly = try #require(byFlags[[false, true, true]]?.first)
        // Hard negatives alone: the near-copy of query 0 (similarity) and example 3's duplicate text.
        #expect(hardNegativesOnly.maskedTerms == 2)
        // Then q–q, d–d and q–d add masks of their own.
        #expect(everything.maskedTerms > hardNegativesOnly.maskedTerms + 4)
        // Without in-batch negatives the q–q/d–d flags change nothing.
        let withoutInBatch = golden.cases.filter { !$0.includeInBatchNegatives }
        #expect(Set(withoutInBatch.map(\.loss)).count == 1)
        // Examples 1 and 2 share their positive (text and state): the q–d term has exactly the positive's
        // similarity, so only the text rule can mask it, and it must be masked.
        #expect(golden.documentTexts[1][0] == golden.documentTexts[2][0])
        #expect(golden.documents[1][0] == golden.documents[2][0])
    }

    @Test("InfoNCE gradients equal central finite differences of the Double loss")
    func infoNCEFiniteDifferences() throws {
        let golden = try LossGoldens.load(InfoNCEGolden.self, "infonce.json")
        let queries = golden.floatQueries.map { $0.map(Double.init) }
        let documents = golden.floatDocuments.map { $0.map { $0.map(Double.init) } }
        for loss in [InfoNCELoss(), InfoNCELoss(temperature: 0.1, falseNegativeMargin: 0, includeQueryQuery: false)] {
            let analytic = loss.evaluate(doubleQueries: queries, documents: documents, documentTexts: golden.documentTexts)
            let step = 1e-6
            func value(_ q: [[Double]], _ d: [[[Double]]]) -> Double {
                loss.evaluate(doubleQueries: q, documents: d, documentTexts: golden.documentTexts).loss
            }
            var deviation = 0.0, scale = 0.0
            for i in queries.indices {
                for c in queries[i].indices {
                    var plus = queries, minus = queries
                    plus[i][c] += step
                    minus[i][c] -= step
                    let numeric = (value(plus, documents) - value(minus, documents)) / (2 * step)
                    deviation = max(deviation, abs(numeric - analytic.queryGradients[i][c]))
                    scale = max(scale, abs(analytic.queryGradients[i][c]))
                }
            }
            for i in documents.indices {
                for k in documents[i].indices {
                    for c in documents[i][k].indices {
                        var plus = documents, minus = documents
                        plus[i][k][c] += step
                        minus[i][k][c] -= step
                        let numeric = (value(queries, plus) - value(queries, minus)) / (2 * step)
                        deviation = max(deviation, abs(numeric - analytic.documentGradients[i][k][c]))
                        scale = max(scale, abs(analytic.documentGradients[i][k][c]))
                    }
                }
            }
            print("InfoNCE finite differences (τ \(loss.temperature)): max deviation \(deviation / scale) relative")
            #expect(scale > 0.01)
            #expect(deviation / scale <= 1e-6)
        }
    }

    @Test("InfoNCE only sees directions: scaling a raw state keeps the loss and scales its gradient by 1/c")
    func infoNCEScaleInvariance() throws {
        let golden = try LossGoldens.load(InfoNCEGolden.self, "infonce.json")
        let loss = InfoNCELoss()
        let base = loss.evaluate(doubleQueries: golden.queries, documents: golden.documents, documentTexts: golden.documentTexts)
        var queries = golden.queries
        queries[1] = queries[1].map { $0 * 4 }
        let scaled = loss.evaluate(doubleQueries: queries, documents: golden.documents, documentTexts: golden.documentTexts)
        #expect(abs(scaled.loss - base.loss) <= 1e-12)
        for c in queries[1].indices {
            #expect(abs(scaled.queryGradients[1][c] * 4 - base.queryGradients[1][c]) <= 1e-12)
        }
    }

    @Test("InfoNCE edge cases: one example without negatives, a zero state, unequal negatives")
    func infoNCEEdgeCases() {
        // One example, positive only: Z = e^{s+/τ}, the loss and every gradient are 0.
        let alone = InfoNCELoss().evaluate(queries: [[1, 2, 3]], documents: [[[3, 1, 2]]], documentTexts: [["a"]])
        #expect(alone.loss == 0)
        #expect(alone.queryGradients == [[0, 0, 0]])
        #expect(alone.maskedTermCount == 0)
        // A zero state is normalised to zero (F.normalize's eps), never to NaN.
        let zero = InfoNCELoss().evaluate(
            queries: [[0, 0, 0], [1, 0, 0]],
            documents: [[[1, 1, 0], [0, 1, 0]], [[1, 0, 0.5]]],
            documentTexts: [["a", "b"], ["c"]])
        #expect(zero.loss.isFinite)
        #expect(zero.queryGradients.allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(zero.documentGradients.count == 2 && zero.documentGradients[0].count == 2 && zero.documentGradients[1].count == 1)
        // Two examples, cosines chosen by hand: the loss is the softmax cross-entropy of the kept terms.
        let loss = InfoNCELoss(temperature: 1, falseNegativeMargin: 0.1, includeQueryQuery: false,
                               includeDocumentDocument: false, includeInBatchNegatives: true)
        let result = loss.evaluate(
            queries: [[1, 0], [0, 1]],
            documents: [[[1, 0], [0, 1]], [[0, 1]]],
            documentTexts: [["p0", "n0"], ["p1"]])
        // Example 0: s+ = 1, hard negative 0, q–d with example 1's positive 0 → −log(e/(e+2)).
        // Example 1: s+ = 1, q–d terms with example 0's documents: 0 and 1 (> 1 + 0.1? no: kept) → −log(e/(2e+1)).
        let expected = (-log(exp(1.0) / (exp(1.0) + 2)) - log(exp(1.0) / (2 * exp(1.0) + 1))) / 2
        #expect(abs(Double(result.loss) - expected) <= 1e-6)
    }

    @Test("Reranker losses equal torch's cross_entropy (pointwise and listwise)")
    func rerankerMatchesTorch() throws {
        let golden = try LossGoldens.load(RerankerGolden.self, "reranker.json")
        let logits = golden.logits.map { $0.map { $0.map { Float($0) } } }
        for (loss, reference) in [(RerankerLoss.pointwise, golden.pointwise), (.listwise, golden.listwise)] {
            let result = loss.evaluate(logits: logits)
            let lossDeviation = abs(Double(result.loss) - reference.loss) / max(1, abs(reference.loss))
            let gradientDeviation = LossGoldens.relativeDeviation(
                result.gradients.flatMap { $0.flatMap { $0 } }, reference.gradients.flatFloats)
            print("reranker \(loss.rawValue) vs torch: loss \(lossDeviation), gradients \(gradientDeviation) (relative)")
            #expect(lossDeviation <= 1e-6)
            #expect(gradientDeviation <= 1e-6)
            #expect(result.gradients.map { $0.count } == logits.map(\.count))
        }
        // Listwise only moves the yes-logits.
        let listwise = RerankerLoss.listwise.evaluate(logits: logits)
        #expect(listwise.gradients.allSatisfy { $0.allSatisfy { $0[0] == 0 } })
    }

    @Test("Reranker losses stay finite and exact on extreme logits")
    func rerankerExtremeLogits() {
        // Correct and confident: loss ≈ 0; wrong and confident: loss ≈ the logit gap (no overflow).
        let right = RerankerLoss.pointwise.evaluate(logits: [[[-500, 500], [500, -500]]])
        #expect(right.loss == 0)
        let wrong = RerankerLoss.pointwise.evaluate(logits: [[[500, -500]]])
        #expect(wrong.loss == 1000)
        #expect(wrong.gradients == [[[1, -1]]])
        let listwise = RerankerLoss.listwise.evaluate(logits: [[[0, -300], [0, 300]]])
        #expect(listwise.loss == 600)
        #expect(listwise.gradients == [[[0, -1], [0, 1]]])
    }
}
