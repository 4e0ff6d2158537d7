import Foundation

/// How the answer's JSON schema is sent: OpenAI's `response_format` shape, or the older
/// `json_object`-with-schema shape some servers take instead.
public enum ResponseFormatStyle: String, CaseIterable, Sendable {
    /// `{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}`: OpenAI, vLLM,
    /// llama.cpp's llama-server, Ollama's OpenAI endpoint.
    case jsonSchema = "json-schema"
    /// `{"type": "json_object", "schema": {...}}`: llama-cpp-python's server (whose request model
    /// accepts only `text` and `json_object`; it turns the schema into a grammar) and Anyscale-style
    /// endpoints.
    case jsonObject = "json-object"
}

/// The two prompt templates and the fixed JSON schemas of their answers.
public struct SynthesisPrompts: Sendable {
    /// Step 1's template (`configuration.txt`).
    public let configurationTemplate: String
    /// Step 2's template (`query.txt`).
    public let queryTemplate: String

    /// The file names looked up in a prompt directory.
    public static let configurationFile = "configuration.txt"
    /// The file names looked up in a prompt directory.
    public static let queryFile = "query.txt"

    /// Templates from their texts; each must contain `{{document}}`.
    public init(configurationTemplate: String, queryTemplate: String) throws {
        for (name, text) in [(Self.configurationFile, configurationTemplate), (Self.queryFile, queryTemplate)]
        where !text.contains("{{document}}") {
            throw SynthesisError.invalidOption("the prompt template \(name) has no {{document}} placeholder")
        }
        self.configurationTemplate = configurationTemplate
        self.queryTemplate = queryTemplate
    }

    /// The templates of `directory` (`--prompt-dir`), or the ones shipped with the package when nil.
    ///
    /// - Parameter directory: a folder holding the two template files.
    public static func load(directory: URL? = nil) throws -> SynthesisPrompts {
        let folder: URL
        if let directory {
            folder = directory
        } else {
            guard let shipped = Bundle.module.url(forResource: "Prompts", withExtension: nil) else {
                throw SynthesisError.invalidOption("the shipped prompt templates are missing from the package resources; pass --prompt-dir")
            }
            folder = shipped
        }
        func read(_ name: String) throws -> String {
            let path = folder.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw SynthesisError.invalidOption("\(path): the prompt template cannot be read as UTF-8 text")
            }
            return text
        }
        return try SynthesisPrompts(configurationTemplate: read(configurationFile), queryTemplate: read(queryFile))
    }

    /// Step 1's prompt for `document` and the plan's candidates.
    public func configurationPrompt(document: String, plan: QueryPlan) -> String {
        Self.render(configurationTemplate, [
            "characters": plan.candidates.map { "- \($0)" }.joined(separator: "\n"),
            "document": document,
        ])
    }

    /// Step 2's prompt for `document` and its configuration.
    public func queryPrompt(document: String, configuration: QueryConfiguration) -> String {
        Self.render(queryTemplate, [
            "character": configuration.character,
            "question_type": configuration.questionType.rawValue,
            "question_type_description": configuration.questionType.meaning,
            "difficulty": configuration.difficulty.rawValue,
            "length": String(configuration.length),
            "language": configuration.language,
            "document": document,
        ])
    }

    /// Replaces each `{{name}}` in one pass, so a document that itself contains `{{…}}` is left alone.
    static func render(_ template: String, _ values: [String: String]) -> String {
        var output = ""
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                rest = rest[open.lowerBound...]
                break
            }
            let name = String(rest[open.upperBound..<close.lowerBound])
            output += values[name] ?? String(rest[open.lowerBound..<close.upperBound])
            rest = rest[close.upperBound...]
        }
        output += rest
        return output
    }

    // MARK: - Schemas

    /// Step 1's answer schema: the character is one of this plan's candidates, the type and difficulty
    /// one of theirs. Enums make a grammar-constrained server produce only valid choices.
    public static func configurationSchema(candidates: [String]) -> [String: Any] {
        [
            "type": "object",
            "properties": [
                "character": ["type": "string", "enum": candidates],
                "question_type": ["type": "string", "enum": QuestionType.allCases.map(\.rawValue)],
                "difficulty": ["type": "string", "enum": Difficulty.allCases.map(\.rawValue)],
            ],
            "required": ["character", "question_type", "difficulty"],
            "additionalProperties": false,
        ]
    }

    /// Step 2's answer schema. `maxLength` (when not nil) bounds the query in characters: a
    /// grammar-constrained server then always closes the string, even when the model would not.
    public static func querySchema(maxLength: Int?) -> [String: Any] {
        var query: [String: Any] = ["type": "string"]
        if let maxLength { query["maxLength"] = maxLength }
        return [
            "type": "object",
            "properties": ["query": query],
            "required": ["query"],
            "additionalProperties": false,
        ]
    }

    /// The `response_format` value for `schema` named `name`, in `style`.
    public static func responseFormat(name: String, schema: [String: Any], style: ResponseFormatStyle) -> [String: Any] {
        switch style {
        case .jsonSchema:
            return ["type": "json_schema", "json_schema": ["name": name, "schema": schema, "strict": true] as [String: Any]]
        case .jsonObject:
            return ["type": "json_object", "schema": schema]
        }
    }

    // MARK: - Answers

    /// The JSON object in an answer: the whole content, or (for a server that ignored the schema and
    /// wrapped it in prose or a code fence) the span from the first `{` to the last `}`.
    static func jsonObject(in content: String) -> [String: Any]? {
        if let object = (try? JSONSerialization.jsonObject(with: Data(content.utf8))) as? [String: Any] { return object }
        guard let open = content.firstIndex(of: "{"), let close = content.lastIndex(of: "}"), open < close else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(content[open...close].utf8))) as? [String: Any]
    }

    /// Step 1's answer checked against its schema, or why it does not match.
    public static func parseConfiguration(_ content: String, plan: QueryPlan) -> Result<QueryConfiguration, AnswerError> {
        guard let object = jsonObject(in: content) else { return .failure(AnswerError("not a JSON object: \(excerpt(content))")) }
        guard let character = (object["character"] as? String)?.trimmingCharacters(in: .whitespaces) else {
            return .failure(AnswerError("no \"character\" string"))
        }
        // Exact, else case-insensitive: small models change capitalisation when the server does not constrain.
        guard let chosen = plan.candidates.first(where: { $0 == character })
                ?? plan.candidates.first(where: { $0.caseInsensitiveCompare(character) == .orderedSame }) else {
            return .failure(AnswerError("\"character\" is not one of the candidates: \(excerpt(character))"))
        }
        guard let typeName = object["question_type"] as? String, let type = QuestionType(rawValue: typeName) else {
            return .failure(AnswerError("\"question_type\" is not one of \(QuestionType.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        guard let difficultyName = object["difficulty"] as? String, let difficulty = Difficulty(rawValue: difficultyName) else {
            return .failure(AnswerError("\"difficulty\" is not one of \(Difficulty.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        return .success(QueryConfiguration(character: chosen, questionType: type, difficulty: difficulty,
                                           length: plan.length, language: plan.language))
    }

    /// Step 2's answer checked against its schema: the query, trimmed and non-empty.
    public static func parseQuery(_ content: String) -> Result<String, AnswerError> {
        guard let object = jsonObject(in: content) else { return .failure(AnswerError("not a JSON object: \(excerpt(content))")) }
        guard let query = object["query"] as? String else { return .failure(AnswerError("no \"query\" string")) }
        let trimmed = query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return .failure(AnswerError("\"query\" is empty")) }
        return .success(trimmed)
    }

    static func excerpt(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return flat.count > 80 ? String(flat.prefix(80)) + "…" : flat
    }
}

/// Why an LLM answer does not fit its schema.
public struct AnswerError: Error, Sendable, Equatable {
    /// What is wrong with the answer.
    public let reason: String
    init(_ reason: String) { self.reason = reason }
}
