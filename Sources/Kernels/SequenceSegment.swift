/// A run of consecutive rows that belong to one sequence of a packed batch.
public struct SequenceSegment: Sendable, Equatable {
    /// Index of the sequence's first row in the packed batch.
    public let start: Int
    /// Number of tokens in the sequence.
    public let length: Int

    /// A segment of `length` rows starting at row `start`.
    public init(start: Int, length: Int) {
        self.start = start
        self.length = length
    }
}
