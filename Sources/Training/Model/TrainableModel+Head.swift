import Foundation
import Kernels
@_spi(Training) import Qwen3

extension TrainableModel {
    /// LM-head logits for the given vocabulary rows (a reranker's "no" and "yes") from final-norm
    /// last-token states: `logits[i][r] = states[i] · W[rows[r]]`.
    public func headLogits(states: [[Float]], rows: [Int]) throws -> [[Float]] {
        let head = try headRows(rows)
        let hidden = configuration.hiddenSize
        return states.map { state in
            precondition(state.count == hidden, "a state has \(hidden) values")
            return rows.indices.map { index in
                state.withUnsafeBufferPointer { state in
                    head.withUnsafeBufferPointer { head in
                        RowMajorGEMM.dot(state.baseAddress!, head.baseAddress! + index * hidden, count: hidden)
                    }
                }
            }
        }
    }

    /// Backward of `headLogits`: returns dL/d state (`Σ_r g_r · W[rows[r]]` per state) and, in full
    /// fine-tuning, adds `g_r · state` to the gradient of head row `rows[r]` (`lm_head.weight`, or
    /// `embed_tokens.weight` when the head is tied to the embeddings).
    public func headBackward(states: [[Float]], rows: [Int], logitGradients: [[Float]]) throws -> [[Float]] {
        let head = try headRows(rows)
        let hidden = configuration.hiddenSize
        precondition(states.count == logitGradients.count && logitGradients.allSatisfy { $0.count == rows.count },
                     "one gradient per state and row")
        let trainableHead = languageModelHead ?? (configuration.tieWordEmbeddings ? embedding : nil)
        if let trainableHead {
            trainableHead.gradients.withUnsafeMutableBufferPointer { dW in
                for (state, gradient) in zip(states, logitGradients) {
                    for (index, row) in rows.enumerated() where gradient[index] != 0 {
                        for t in 0..<hidden { dW[row * hidden + t] += gradient[index] * state[t] }
                    }
                }
            }
        }
        return logitGradients.map { gradient in
            var result = [Float](repeating: 0, count: hidden)
            for index in rows.indices where gradient[index] != 0 {
                for t in 0..<hidden { result[t] += gradient[index] * head[index * hidden + t] }
            }
            return result
        }
    }

    /// The head rows, `rows.count × hidden`, as fp32 (current values in full fine-tuning).
    private func headRows(_ rows: [Int]) throws -> [Float] {
        guard let head = model.weights.languageModelHead else { throw TrainableModelError.missingLanguageModelHead }
        let hidden = configuration.hiddenSize
        var values = [Float](repeating: 0, count: rows.count * hidden)
        try values.withUnsafeMutableBufferPointer { buffer in
            for (index, row) in rows.enumerated() {
                guard (0..<head.rowCount).contains(row) else {
                    throw TrainableModelError.invalidSequence("head row \(row) is outside the vocabulary")
                }
                head.copyRow(row, into: buffer.baseAddress! + index * hidden)
            }
        }
        return values
    }
}
