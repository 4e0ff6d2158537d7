extension Qwen3Model {
    /// The final-norm hidden state at every token of each sequence (`[sequence][token][hidden]`), as
    /// TEI's `/embed_all` returns them: no pooling, no normalisation.
    ///
    /// The same forward pass as `lastHiddenStates(for:)`, without dropping the rows that do not reach
    /// the last token; since rows are computed independently, each sequence's last row here equals its
    /// `lastHiddenStates` result bit for bit.
    public func allHiddenStates(for sequences: [[Int]]) throws -> [[[Float]]] {
        try validate(sequences)
        let rows = forward(sequences, allTokens: true)
        var result: [[[Float]]] = []
        result.reserveCapacity(sequences.count)
        var start = 0
        for sequence in sequences {
            result.append(Array(rows[start..<start + sequence.count]))
            start += sequence.count
        }
        return result
    }
}
