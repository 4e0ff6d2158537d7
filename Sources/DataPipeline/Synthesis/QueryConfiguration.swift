import Evaluation
import Foundation
import ModelFormats

/// The paper's question types: what kind of query the character asks about the document.
public enum QuestionType: String, CaseIterable, Sendable, Codable {
    case keywords
    case acquireKnowledge = "acquire_knowledge"
    case summary
    case yesOrNo = "yes_or_no"
    case background

    /// A one-line meaning, given to the LLM in the query prompt.
    public var meaning: String {
        switch self {
        case .keywords: return "a short keyword query, as typed into a search engine"
        case .acquireKnowledge: return "a question asking for facts or knowledge the passage provides"
        case .summary: return "a request for a summary or overview of what the passage says"
        case .yesOrNo: return "a question the passage answers with yes or no"
        case .background: return "a question about the context, causes or background of the topic"
        }
    }
}

/// How hard the query is: the education level its asker would have.
public enum Difficulty: String, CaseIterable, Sendable, Codable {
    case highSchool = "high_school"
    case university
    case phd
}

/// What is drawn with the seed for one query of one document, before any LLM call: the candidate
/// characters the LLM chooses from, the query length and the language.
public struct QueryPlan: Sendable, Equatable {
    /// Candidate personas (distinct, in drawing order) offered to the LLM in step 1.
    public var candidates: [String]
    /// The query length in words, asked for in step 2.
    public var length: Int
    /// The query's language, asked for in step 2.
    public var language: String

    /// A plan from its parts.
    public init(candidates: [String], length: Int, language: String) {
        self.candidates = candidates
        self.length = length
        self.language = language
    }
}

/// The configuration of one synthesized query: the plan plus the LLM's step-1 choices. Written with
/// every output line, so a data set can be audited or rebalanced by type, difficulty or language.
public struct QueryConfiguration: Sendable, Equatable, Codable {
    /// The persona asking the query (one of the plan's candidates).
    public var character: String
    /// The kind of query.
    public var questionType: QuestionType
    /// Its difficulty.
    public var difficulty: Difficulty
    /// Its length in words (as asked; the LLM may not count exactly).
    public var length: Int
    /// Its language.
    public var language: String

    /// A configuration from its parts.
    public init(character: String, questionType: QuestionType, difficulty: Difficulty, length: Int, language: String) {
        self.character = character
        self.questionType = questionType
        self.difficulty = difficulty
        self.length = length
        self.language = language
    }

    enum CodingKeys: String, CodingKey {
        case character, difficulty, length, language
        case questionType = "question_type"
    }
}

/// Draws each query's plan with the seed.
///
/// Each (document, query index) gets its own generator, seeded from `seed`, the document id and the
/// index, so a plan depends on nothing else: not on the concurrency, the order requests finish in, other
/// documents, or whether the run was resumed.
public struct QuerySampler: Sendable {
    /// The persona list candidates are drawn from (never empty).
    public let personas: [String]
    /// The languages one is drawn from (never empty).
    public let languages: [String]
    /// The lengths in words one is drawn from (never empty).
    public let lengths: [Int]
    /// How many candidate personas step 1 chooses from (at most the list's size).
    public let candidateCount: Int
    /// The run's seed.
    public let seed: UInt64

    /// A small built-in persona list, used when `--personas` is not given. The paper retrieves
    /// candidates from Persona Hub; any list of one-line personas works here.
    public static let defaultPersonas = [
        "a high school student preparing for an exam",
        "a university student writing a term paper",
        "a PhD researcher surveying related work",
        "a software engineer debugging a production system",
        "a journalist checking facts for an article",
        "a medical doctor looking up clinical evidence",
        "a lawyer researching a point of law",
        "a small business owner making a purchasing decision",
        "a retired teacher curious about history",
        "a parent looking for advice for their child",
        "a traveller planning a trip",
        "a data scientist evaluating a method",
        "a policy analyst writing a briefing",
        "a hobbyist learning a new skill",
        "a librarian helping a patron find sources",
        "a product manager comparing options",
    ]

    /// The query lengths (in words) drawn from by default: mostly short, as search queries are.
    public static let defaultLengths = [3, 5, 8, 10, 12, 15, 20, 30]

    /// A sampler; throws when a list is empty or `candidateCount` is not positive.
    public init(personas: [String] = Self.defaultPersonas, languages: [String] = ["English"],
                lengths: [Int] = Self.defaultLengths, candidateCount: Int = 3, seed: UInt64) throws {
        let personas = personas.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let languages = languages.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !personas.isEmpty else { throw SynthesisError.invalidOption("the persona list is empty") }
        guard !languages.isEmpty else { throw SynthesisError.invalidOption("the language list is empty") }
        guard !lengths.isEmpty, lengths.allSatisfy({ $0 > 0 }) else { throw SynthesisError.invalidOption("query lengths must be positive") }
        guard candidateCount > 0 else { throw SynthesisError.invalidOption("the candidate persona count must be at least 1") }
        // Duplicates would make two candidates indistinguishable in the schema's enum.
        var seen = Set<String>()
        self.personas = personas.filter { seen.insert($0).inserted }
        self.languages = languages
        self.lengths = lengths
        self.candidateCount = min(candidateCount, self.personas.count)
        self.seed = seed
    }

    /// Reads a persona file: one persona a line, blank lines ignored.
    ///
    /// - Parameter file: the persona file (UTF-8 text).
    public static func personas(fromFile file: URL) throws -> [String] {
        let path = file.pathAsGiven
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw SynthesisError.invalidOption("\(path): the persona file cannot be read as UTF-8 text")
        }
        let personas = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !personas.isEmpty else { throw SynthesisError.invalidOption("\(path): the persona file has no persona (one a line)") }
        return personas
    }

    /// The generator of query `index` of document `documentID`.
    public func generator(documentID: String, index: Int) -> SeededGenerator {
        // FNV-1a over the id's bytes, then the seed and the index folded in; SplitMix64 (the
        // generator) scrambles the sum, so neighbouring ids or indices give unrelated streams.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in documentID.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        var mixer = SeededGenerator(seed: seed ^ hash)
        return SeededGenerator(seed: mixer.next() &+ UInt64(index) &* 0xD1B5_4A32_D192_ED03)
    }

    /// The plan of query `index` of document `documentID`.
    public func plan(documentID: String, index: Int) -> QueryPlan {
        var generator = generator(documentID: documentID, index: index)
        // Partial Fisher–Yates over the persona indices: distinct candidates in drawing order.
        var indices = Array(personas.indices)
        for place in 0..<candidateCount {
            let pick = place + Int(generator.next() % UInt64(indices.count - place))
            indices.swapAt(place, pick)
        }
        let candidates = indices.prefix(candidateCount).map { personas[$0] }
        let length = lengths[Int(generator.next() % UInt64(lengths.count))]
        let language = languages[Int(generator.next() % UInt64(languages.count))]
        return QueryPlan(candidates: candidates, length: length, language: language)
    }

    /// A per-request seed for servers that take `seed` (31 bits, which every server accepts), so a
    /// rerun asks for the same sampling where the server supports it.
    public func requestSeed(documentID: String, index: Int, step: Int) -> Int {
        var generator = generator(documentID: documentID, index: index)
        for _ in 0...(3 + step) { _ = generator.next() }
        return Int(generator.next() >> 33)
    }
}
