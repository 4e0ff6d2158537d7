import Hummingbird

/// Requires `Authorization: Bearer KEY` on every route except what holds no data and computes
/// nothing: the page (`GET /`), the health check, the API description (`/openapi.json`, `/docs`) and
/// CORS preflight requests (browsers send those without credentials).
struct AuthenticationMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String


    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if request.method == .options || ((request.method == .get || request.method == .head) && openPaths.contains(path)) {
            return try await next(request, context)
        }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        let presented = header.hasPrefix(prefix) ? String(header.dropFirst(prefix.count)) : ""
        guard constantTimeEqual(Array(presented.utf8), Array(apiKey.utf8)) else {
            let family = APIFamily(path: path)
            return APIError(.unauthorized, header.isEmpty ? "missing API key" : "invalid API key").response(family)
        }
        return try await next(request, context)
    }
}

/// Compares two byte strings in time that depends only on their lengths, not on where they differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    let length = max(a.count, b.count)
    for index in 0..<length {
        let x = index < a.count ? a[index] : 0
        let y = index < b.count ? b[index] : 0
        difference |= x ^ y
    }
    return difference == 0
}

/// Paths open to `GET` without a key: they hold no data and compute nothing.
private let openPaths: Set<String> = ["/", "/health", "/openapi.json", "/docs"]
