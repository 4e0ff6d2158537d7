import HTTPTypes
import Hummingbird

/// Cross-origin access for browser clients (`serve --cors-allow-origin`).
///
/// A request whose `Origin` is allowed gets `Access-Control-Allow-Origin` (the origin itself, or `*`
/// when any origin is allowed) and `Vary: Origin`; a preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) to a known path is answered here with 204 and the methods and
/// headers the browser may use, before authentication (browsers send preflights without credentials).
/// Origins not in the list get no CORS headers, so the browser blocks the response.
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: [String]
    let methodsByPath: [String: [HTTPRequest.Method]]

    /// How long a browser may cache a preflight answer, in seconds.
    static var maxAge: String { "600" }

    func allowOrigin(for origin: String) -> String? {
        if allowedOrigins.contains("*") { return "*" }
        return allowedOrigins.contains(origin) ? origin : nil
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], let allowed = allowOrigin(for: origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var path = request.uri.path
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            if let methods = methodsByPath[path] {
                var headers: HTTPFields = [
                    .accessControlAllowOrigin: allowed,
                    .accessControlAllowMethods: (methods.map(\.rawValue) + ["OPTIONS"]).joined(separator: ", "),
                    .accessControlAllowHeaders: request.headers[.accessControlRequestHeaders] ?? "authorization, content-type",
                    .accessControlMaxAge: Self.maxAge,
                    .vary: "Origin",
                ]
                headers[.contentLength] = "0"
                return Response(status: .noContent, headers: headers)
            }
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = allowed
        response.headers[.accessControlExposeHeaders] =
            "x-compute-type, x-compute-time, x-compute-tokens, x-compute-characters, x-tokenization-time, x-queue-time, x-inference-time, x-total-time"
        response.headers.append(HTTPField(name: .vary, value: "Origin"))
        return response
    }
}
