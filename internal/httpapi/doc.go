// Package httpapi is the HTTP adapter of the application core: the backend
// publish API (POST and GET /api/rooms/:room/messages, behind an API key),
// the dev-mode token endpoint, and the JSON error and CORS helpers that the
// SSE streams share. Handlers are plain net/http: they decode the request,
// call the core and encode its answer; the router (package server) passes
// path parameters in.
//
// Errors are {"error": {"code", "message"}} with the code's HTTP status:
// bad_request 400, unauthorized 401, forbidden 403, not_found 404,
// conflict 409, too_large 413, rate_limited 429, unavailable 503, anything
// else 500 without detail. A POST whose Content-Type is not
// application/json gets 415 (code bad_request).
//
// Concurrency: an API is immutable after New; its handlers run on the
// HTTP server's goroutines and start none.
package httpapi
