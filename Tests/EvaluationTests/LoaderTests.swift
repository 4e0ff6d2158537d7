import Foundation
import Testing
@testable import Evaluation

@Suite struct LoaderTests {
    @Test func qrelsWithAndWithoutHeaderAndTrecColumns() throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let withHeader = try Paths.write("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\n", to: "a.tsv", in: directory)
        let without = try Paths.write("q1\td1\t1\r\nq1\td2\t0\r\n\nq2\td3\t2\r\n", to: "b.tsv", in: directory)
        let trec = try Paths.write("q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n", to: "c.txt", in: directory)
        let expected: [String: [String: Int]] = ["q1": ["d1": 1, "d2": 0], "q2": ["d3": 2]]
        #expect(try DatasetLoader.readQrels(withHeader) == expected)
        #expect(try DatasetLoader.readQrels(without) == expected)
        #expect(try DatasetLoader.readQrels(trec) == expected)
    }

    @Test func badQrelsAreClearErrors() throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = try Paths.write("query-id\tcorpus-id\tscore\n", to: "empty.tsv", in: directory)
        #expect(throws: EvaluationError.emptyData(path: empty.path, what: "no judgements")) { try DatasetLoader.readQrels(empty) }
        let bad = try Paths.write("q1\td1\t1\nq1\td2\thigh\n", to: "bad.tsv", in: directory)
        #expect(throws: EvaluationError.malformedRecord(path: bad.path, line: 2, reason: "score \"high\" is not a number")) {
            try DatasetLoader.readQrels(bad)
        }
        let missing = directory.appendingPathComponent("missing.tsv")
        #expect(throws: EvaluationError.unreadableFile(path: missing.path)) { try DatasetLoader.readQrels(missing) }
    }

    @Test func taskFileErrorsNameTheFieldAndFile() throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let noData = try Paths.write(#"{"name": "X", "type": "sts"}"#, to: "a.json", in: directory)
        #expect(throws: EvaluationError.invalidTaskFile(path: noData.path, reason: "missing field \"data\"")) {
            try LoadedTask(file: noData)
        }
        let badType = try Paths.write(#"{"name": "X", "type": "ranking", "data": {"path": "x"}}"#, to: "b.json", in: directory)
        #expect { try LoadedTask(file: badType) } throws: { error in
            (error as? EvaluationError)?.errorDescription?.contains("field \"type\"") == true
        }
        let noTrain = try Paths.write(#"{"name": "X", "type": "classification", "data": {"path": "x"}}"#, to: "c.json", in: directory)
        #expect(throws: EvaluationError.invalidTaskFile(path: noTrain.path, reason: "a classification task needs a \"train\" data source")) {
            try LoadedTask(file: noTrain)
        }
        let notJSON = try Paths.write("type: sts", to: "d.json", in: directory)
        #expect(throws: EvaluationError.invalidTaskFile(path: notJSON.path, reason: "not valid JSON")) { try LoadedTask(file: notJSON) }
        let negative = try Paths.write(#"{"name": "X", "type": "retrieval", "top_k": 0, "data": {"path": "x"}}"#, to: "e.json", in: directory)
        #expect(throws: EvaluationError.invalidTaskFile(path: negative.path, reason: "\"top_k\" must be positive, got 0")) {
            try LoadedTask(file: negative)
        }
    }

    @Test func tableReaderHandlesTSVJSONLinesArraysAndMTEBLists() throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tsv = try Paths.write("g\ta\t\"quoted\" text\tx\t2.5\n", to: "s.csv", in: directory)
        let tsvRows = try TableReader.rows(of: DataSource(path: "s.csv", header: false, fields: ["text": .column(2), "score": .column(4)]),
                                           at: tsv, roles: ["text", "score"])
        #expect(tsvRows == [["text": "\"quoted\" text", "score": "2.5"]])
        let lines = try Paths.write("{\"s\": \"a\", \"v\": 1}\n\n{\"s\": \"b\", \"v\": 0.5}\n", to: "l.json", in: directory)
        let lineRows = try TableReader.rows(of: DataSource(path: "l.json", fields: ["text": .name("s"), "score": .name("v")]), at: lines, roles: ["text", "score"])
        #expect(lineRows == [["text": "a", "score": "1"], ["text": "b", "score": "0.5"]])
        let mteb = try Paths.write(#"[{"sentences": ["x", "y"], "labels": [1, 2]}, {"sentences": ["z"], "labels": [1]}]"#, to: "m.json", in: directory)
        let mtebRows = try TableReader.rows(of: DataSource(path: "m.json", fields: ["text": .name("sentences"), "label": .name("labels")]),
                                            at: mteb, roles: ["text", "label"])
        #expect(mtebRows.map { $0["text"]! } == ["x", "y", "z"])
        #expect(mtebRows.map { $0["label"]! } == ["1", "2", "1"])
        let broken = try Paths.write("{\"s\": \"a\"}\n{oops\n", to: "broken.json", in: directory)
        #expect(throws: EvaluationError.malformedRecord(path: broken.path, line: 2, reason: "not a JSON object")) {
            try TableReader.rows(of: DataSource(path: "broken.json", fields: ["text": .name("s")]), at: broken, roles: ["text"])
        }
        #expect(throws: EvaluationError.malformedRecord(path: lines.path, line: 1, reason: "missing field \"label\" (label)")) {
            try TableReader.rows(of: DataSource(path: "l.json"), at: lines, roles: ["label"])
        }
    }

    @Test func realTaskFilesLoadTheSharedData() throws {
        let jsts = try LoadedTask(file: URL(fileURLWithPath: Paths.task("jsts.json")))
        #expect(try DatasetLoader.stsPairs(jsts).values.count == 1457)
        let stsb = try LoadedTask(file: URL(fileURLWithPath: Paths.task("stsbenchmark.json")))
        let pairs = try DatasetLoader.stsPairs(stsb)
        #expect(pairs.values.count == 1379)
        #expect(pairs.sentences1[0] == "A girl is styling her hair." && pairs.values[0] == 2.5)
        let jsick = try LoadedTask(file: URL(fileURLWithPath: Paths.task("jsick-pair-classification.json")))
        let labeled = try DatasetLoader.labeledPairs(jsick)
        #expect(labeled.values.count == 4927 && labeled.values.filter { $0 == 1 }.count == 1088)
        let bitext = try DatasetLoader.bitextPairs(try LoadedTask(file: URL(fileURLWithPath: Paths.task("jsick-bitext.json"))))
        #expect(Set(bitext.sentences1).count == bitext.sentences1.count && Set(bitext.sentences2).count == bitext.sentences2.count)
        let arcd = try DatasetLoader.retrieval(try LoadedTask(file: URL(fileURLWithPath: Paths.task("arcd-retrieval.json"))))
        #expect(arcd.corpus.count == 255 && arcd.queries.count == 50)
        let marco = try DatasetLoader.retrieval(try LoadedTask(file: URL(fileURLWithPath: Paths.task("msmarco-retrieval.json"))))
        #expect(marco.corpus.count == 5000 && marco.queries.count == 43)  // 7 of the 50 queries have no judgements
        #expect(marco.qrels.values.reduce(0) { $0 + $1.count } == 4102)  // header-less qrels: no line lost
        let reranking = try DatasetLoader.reranking(try LoadedTask(file: URL(fileURLWithPath: Paths.task("msmarco-reranking.json"))))
        #expect(!reranking.isEmpty && reranking.allSatisfy { !$0.positives.isEmpty && !$0.negatives.isEmpty })
    }

    @Test func retrievalSubsamplingKeepsJudgedDocuments() throws {
        var task = try LoadedTask(file: URL(fileURLWithPath: Paths.task("msmarco-retrieval.json")))
        task.description.limit = 3
        task.description.corpusLimit = 200
        let data = try DatasetLoader.retrieval(task)
        #expect(data.queries.count == 3)
        let judged = Set(data.qrels.values.flatMap(\.keys))
        #expect(judged.isSubset(of: Set(data.corpus.map(\.id))))
        #expect(data.corpus.count == max(200, judged.count))
    }

    @Test func dataRootOverrideAndMissingData() throws {
        let directory = try Paths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let task = try LoadedTask(file: URL(fileURLWithPath: Paths.task("jsts.json")), dataRootOverride: directory)
        let expected = directory.appendingPathComponent("jsts/valid-v1.3.json").path
        #expect(throws: EvaluationError.unreadableFile(path: expected)) { try DatasetLoader.stsPairs(task) }
    }
}
