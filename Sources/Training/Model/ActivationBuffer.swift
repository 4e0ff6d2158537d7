import Foundation

/// An fp32 scratch buffer owned by one training step (freed when the last reference goes). Tasks of a
/// parallel loop write disjoint rows of it, hence the unchecked sendability.
final class ActivationBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// `count` values, zeroed (gradient buffers are accumulated into).
    init(_ count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    func zero() { pointer.update(repeating: 0, count: count) }
}
