#if DEBUG
import Synchronization
#endif

/// Counts the steps of the tokenizer's inner loops (scalars scanned, merge candidates examined, heap
/// moves, marks compared) in debug builds, so tests can prove that the work grows linearly (or n log n)
/// with the input by counting rather than by timing. In release builds it is empty and every call to it
/// compiles to nothing.
///
/// Counting is opt-in per task: `WorkTally.$counter.withValue(counter) { … }` counts the steps of the
/// encoding done inside, and only those (tests running in parallel do not disturb each other).
struct WorkTally {
    #if DEBUG
    /// Where the steps of the current task go, if anyone is counting.
    @TaskLocal static var counter: WorkCounter?

    private let counter = WorkTally.counter
    private var steps = 0
    #endif

    /// Starts counting for the current task's counter, if any.
    @inline(__always) init() {}

    /// Counts `steps` more steps.
    @inline(__always) mutating func count(_ steps: Int = 1) {
        #if DEBUG
        self.steps &+= steps
        #endif
    }

    /// Adds the steps counted so far to the task's counter (call once, when the loop is done).
    @inline(__always) func flush() {
        #if DEBUG
        counter?.add(steps)
        #endif
    }
}

#if DEBUG
/// A total of steps, shared by the functions an encoding calls (debug builds only).
final class WorkCounter: Sendable {
    private let total = Atomic<Int>(0)

    init() {}

    /// The steps counted so far.
    var steps: Int { total.load(ordering: .relaxed) }

    func add(_ steps: Int) { total.add(steps, ordering: .relaxed) }
}
#endif
