import Hummingbird

/// The routes a server registers, collected before they reach the router so that the same list feeds
/// the router, the 404/405 answers (which methods a path has) and the check that `/openapi.json`
/// describes every route (`EmbeddingServer.routes`).
struct RouteList: Sendable {
    typealias Handler = @Sendable (Request, ServerRequestContext) async throws -> Response

    struct Entry: Sendable {
        let method: HTTPRequest.Method
        let path: String
        let handler: Handler
    }

    private(set) var entries: [Entry] = []

    mutating func add(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        entries.append(Entry(method: method, path: path, handler: handler))
    }

    mutating func post(_ path: String, _ handler: @escaping Handler) { add(.post, path, handler) }
    mutating func get(_ path: String, _ handler: @escaping Handler) { add(.get, path, handler) }

    /// Registers every route on `router`.
    func install(on router: Router<ServerRequestContext>) {
        for entry in entries {
            router.on(RouterPath(entry.path), method: entry.method) { request, context in try await entry.handler(request, context) }
        }
    }

    /// The methods registered for each path.
    var methodsByPath: [String: [HTTPRequest.Method]] {
        entries.reduce(into: [:]) { $0[$1.path, default: []].append($1.method) }
    }
}

/// Answers what no route matched with a JSON error in the path's family (OpenAI for `/v1/*`, Cohere for
/// `/v2/*`, TEI otherwise): 405 with an `Allow` header when the path exists with other methods, else
/// 404. Hummingbird's own answer would be an empty-bodied 404 in both cases.
struct RouteFallbackMiddleware<Context: RequestContext>: RouterMiddleware {
    let methodsByPath: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            var path = request.uri.path
            // The router ignores a trailing slash; so does this lookup.
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            let family = APIFamily(path: path)
            guard let methods = methodsByPath[path] else {
                return APIError(.notFound, "no route \(request.method.rawValue) \(path); see /docs for the routes this server has")
                    .response(family)
            }
            var failure = APIError(
                .methodNotAllowed,
                "\(path) does not accept \(request.method.rawValue); use \(methods.map(\.rawValue).joined(separator: " or "))")
            failure.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
            return failure.response(family)
        }
    }
}
