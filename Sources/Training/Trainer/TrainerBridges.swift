import Foundation

// TEMPORARY bridge to the parts other helpers are still writing (data reading, reranker head, saving):
// replaced by their APIs as they land. Nothing here is meant to stay.

extension TrainableModel {
    func trainerHeadLogits(states: [[Float]], rows: [Int]) throws -> [[Float]] {
        throw TrainerError.unsuitableModel("reranker head not available yet")
    }
    func trainerHeadBackward(states: [[Float]], rows: [Int], logitGradients: [[Float]]) throws -> [[Float]] {
        throw TrainerError.unsuitableModel("reranker head not available yet")
    }
    func trainerSaveAdapter(to url: URL) throws {}
    func trainerSaveModel(to url: URL) throws {}
}
